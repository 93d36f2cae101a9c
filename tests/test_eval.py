"""Quality measurement: metrics and the verification protocol against hand-computed values,
then `photoface eval` and `calibrate` end to end on real photos."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photoface import api, evaluate
from photoface.cli import main
from photoface.evaluate import Pair
from photoface.metrics import bcubed, pairwise

from conftest import variant_photo

PHOTOS = Path(__file__).parent / "data" / "photos"


def test_pairwise_and_bcubed_match_a_hand_computed_example():
    # faces 0-2 are a, 3-4 are b; predicted clusters {0,1}, {2,3}, and face 4 unknown
    truth = ["a", "a", "a", "b", "b"]
    pred = [0, 0, 1, 1, -1]
    pw = pairwise(truth, pred)
    # predicted pairs (0,1) (2,3); true pairs (0,1) (0,2) (1,2) (3,4); both: (0,1)
    assert pw["precision"] == pytest.approx(1 / 2) and pw["recall"] == pytest.approx(1 / 4)
    assert pw["f1"] == pytest.approx(1 / 3)
    b3 = bcubed(truth, pred)
    # precision per face 1, 1, 1/2, 1/2, 1; recall 2/3, 2/3, 1/3, 1/2, 1/2
    assert b3["precision"] == pytest.approx(4 / 5) and b3["recall"] == pytest.approx(8 / 15)
    assert b3["f1"] == pytest.approx(2 * 0.8 * 8 / 15 / (0.8 + 8 / 15))
    # an unknown face never costs precision: all unknown is perfectly precise, and recall
    # counts each face alone
    all_unknown = bcubed(truth, [-1] * 5)
    assert all_unknown["precision"] == 1.0 and all_unknown["recall"] == pytest.approx((3 * 1 / 3 + 2 * 1 / 2) / 5)


def test_ten_fold_protocol_matches_a_hand_computed_example():
    same_d = {0: [0.21, 0.42], 1: [0.31, 0.91]}
    diff_d = {0: [1.01, 1.22], 1: [0.81, 1.51]}
    pairs, dist = [], []
    for fold in (0, 1):
        for d in same_d[fold]:
            pairs.append(Pair("a", "b", True, fold))
            dist.append(d)
        for d in diff_d[fold]:
            pairs.append(Pair("a", "c", False, fold))
            dist.append(d)
    r = evaluate.verification_report(pairs, np.array(dist), far_target=1e-3)
    # fold 1 is best (3 of 4) from just above 0.31 to 0.81 (and again past 0.91): fold 0 is
    # tested at the middle of that first run, ~0.56, and gets all 4 right; fold 0 is
    # perfect from 0.42 to 1.01: fold 1 is tested at ~0.715 and misses its 0.91 match
    assert r["fold_thresholds"] == pytest.approx([0.5625, 0.715], abs=0.006)
    assert r["fold_accuracies"] == [1.0, 0.75] and r["accuracy"] == 0.875 and r["accuracy_std"] == 0.125
    # VAL at FAR 1e-3: the threshold is the other fold's smallest different-person distance
    # (0.81 for fold 0: both matches accepted, no false accept; 1.01 for fold 1: both
    # matches and the 0.81 mismatch accepted)
    assert r["val"] == 1.0 and r["far"] == pytest.approx(0.25)
    # a matched pair whose face was not found is a wrong "different" decision
    dist[0] = np.nan
    r = evaluate.verification_report(pairs, np.array(dist))
    assert r["pairs_without_face"] == 1 and r["fold_accuracies"][0] == 0.75


def test_lfw_pairs_file_and_csv_pairs_are_read(tmp_path):
    root = tmp_path / "lfw" / "lfw-deepfunneled"
    for name, n in (("Ann_A", 2), ("Bob_B", 1)):
        (root / name).mkdir(parents=True)
        for i in range(1, n + 1):
            (root / name / f"{name}_{i:04d}.jpg").write_bytes(b"x")
    (tmp_path / "lfw" / "pairs.txt").write_text("2\t1\nAnn_A\t1\t2\nAnn_A\t1\tBob_B\t1\nAnn_A\t2\t1\nBob_B\t1\tAnn_A\t2\n")
    pairs = evaluate.read_lfw_pairs(str(tmp_path / "lfw"))
    assert [(Path(p.a).name, Path(p.b).name, p.same, p.fold) for p in pairs] == [
        ("Ann_A_0001.jpg", "Ann_A_0002.jpg", True, 0), ("Ann_A_0001.jpg", "Bob_B_0001.jpg", False, 0),
        ("Ann_A_0002.jpg", "Ann_A_0001.jpg", True, 1), ("Bob_B_0001.jpg", "Ann_A_0002.jpg", False, 1)]
    csv = tmp_path / "p.csv"
    csv.write_text("path_a,path_b,same\nx.jpg,y.jpg,yes\nx.jpg,z.jpg,0\n")
    got = evaluate.read_pairs_csv(str(csv), folds=2)
    assert [(p.same, p.fold) for p in got] == [(True, 0), (False, 1)] and got[0].a == str(tmp_path / "x.jpg")
    csv.write_text("path_a,path_b,same\nx.jpg,y.jpg,maybe\n")
    with pytest.raises(Exception, match="must be 1 or 0"):
        evaluate.read_pairs_csv(str(csv))


def test_calibration_threshold_holds_the_false_match_rate():
    rng = np.random.default_rng(3)
    c = rng.standard_normal((40, 512))
    truth = np.repeat(np.arange(40), 5)
    X = c[truth] / np.linalg.norm(c[truth], axis=1, keepdims=True) + rng.standard_normal((200, 512)) * 0.03
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    out = evaluate.calibrate(X, truth, fmr=1e-2)
    assert out["same_pairs"] == 40 * 10 and out["different_pairs"] == 200 * 199 // 2 - 400
    assert out["fmr"] <= 1e-2 and out["threshold"] > 0
    d = np.sqrt(np.clip(2 - 2 * X @ X.T, 0, 4))
    diff = d[np.triu(truth[:, None] != truth[None, :], 1)]
    assert (diff < out["threshold"]).mean() <= 1e-2 < (diff <= out["threshold"]).mean() + 1e-2


@pytest.fixture(scope="module")
def labeled(tmp_path_factory):
    """Real photos in <Person>/ folders, with variants, and a pairs CSV over them."""
    root = tmp_path_factory.mktemp("labeled")
    for name in ("obama.jpg", "obama2.jpg", "obama3.jpg"):
        variant_photo(name, root / "Barack Obama" / name)
    variant_photo("obama2.jpg", root / "Barack Obama" / "obama2_mirror.jpg", mirror=True, crop=0.05)
    variant_photo("biden.jpg", root / "Joe Biden" / "biden.jpg")
    variant_photo("biden.jpg", root / "Joe Biden" / "biden_mirror.jpg", mirror=True, scale=0.7)
    variant_photo("astronaut.jpg", root / "Eileen Collins" / "astronaut.jpg")
    variant_photo("astronaut.jpg", root / "Eileen Collins" / "astronaut_small.jpg", scale=0.6, crop=0.08)
    shutil.copy(PHOTOS / "chelsea_cat.jpg", root / "cat.jpg")
    rows = [("Barack Obama/obama.jpg", "Barack Obama/obama2.jpg", 1), ("Barack Obama/obama2.jpg", "Barack Obama/obama3.jpg", 1),
            ("Barack Obama/obama.jpg", "Barack Obama/obama3.jpg", 1), ("Joe Biden/biden.jpg", "Joe Biden/biden_mirror.jpg", 1),
            ("Barack Obama/obama.jpg", "Joe Biden/biden.jpg", 0), ("Joe Biden/biden.jpg", "Eileen Collins/astronaut.jpg", 0),
            ("Barack Obama/obama3.jpg", "Eileen Collins/astronaut.jpg", 0), ("Eileen Collins/astronaut_small.jpg",
                                                                              "Joe Biden/biden_mirror.jpg", 0),
            ("cat.jpg", "Barack Obama/obama.jpg", 1)]
    csv = root / "pairs.csv"
    csv.write_text("path_a,path_b,same,fold\n" + "".join(f"{a},{b},{s},{i % 2}\n" for i, (a, b, s) in enumerate(rows)))
    return root


def test_eval_pairs_on_real_photos_counts_missing_faces_and_draws_the_roc(labeled, tmp_path, capsys):
    cache = tmp_path / "cache"
    roc = tmp_path / "roc.png"
    out = api.eval_pairs(pairs=str(labeled / "pairs.csv"), cache=str(cache), roc=str(roc), scheduler="sync")
    assert out["pairs"] == 9 and out["photos"] == 8
    assert out["photos_without_face"] == 1 and out["pairs_without_face"] == 1
    # the pairs with faces are easy: all right; the cat's "match" is a miss that counts
    assert out["accuracy_faces_found_only"] == 1.0 and out["accuracy"] < 1.0
    assert 0.7 < out["threshold"] < 1.3
    with Image.open(roc) as im:
        assert im.format == "PNG" and im.size == (640, 520)
    # the embeddings are cached: the command line reads them back and reports the same
    capsys.readouterr()
    code = main(["eval", "pairs", "--pairs", str(labeled / "pairs.csv"), "--cache", str(cache), "--json",
                 "--no-progress"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(json.dumps({k: v for k, v in out.items() if k not in ("roc", "roc_png")}))


def test_eval_cluster_and_calibrate_on_real_photos(labeled, tmp_path, capsys):
    cache = str(tmp_path / "cache")
    out = api.eval_cluster(str(labeled), cache=cache, scheduler="sync")
    assert out["photos"] == 8 and out["faces"] >= 8
    rows = {r["algorithm"]: r for r in out["results"]}
    # photoface (FaceNet and dlib's descriptor), the same clusterer on FaceNet alone, three anchors
    assert set(rows) >= {"photoface", "photoface, FaceNet alone"} and len(rows) == 5
    assert [r["bcubed_f1"] for r in out["results"]] == sorted(
        (r["bcubed_f1"] for r in out["results"]), reverse=True)
    mine = rows["photoface"]
    # Obama (4 photos) and Biden (2) are found and nothing is mixed. Collins' second photo
    # is scaled so that her face is about 50 px, the clustering gate's minimum: depending
    # on a pixel of box size she forms her own cluster or both her faces stay unknown
    assert mine["bcubed_p"] == 1.0
    assert (mine["clusters"], mine["noise"]) in ((3, 0.0), (2, 0.25))
    # other settings on the cached embeddings, from the command line
    assert main(["eval", "cluster", "--labeled", str(labeled), "--cache", cache, "--no-anchors", "--json",
                 "--set", "min_samples=1", "--no-progress"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["settings"]["min_samples"] == 1 and [r["algorithm"] for r in again["results"]] == ["photoface"]
    cal = api.calibrate(str(labeled), fmr=0.1, cache=cache, scheduler="sync")
    assert cal["same_pairs"] == 6 + 1 + 1 and cal["tmr"] == 1.0 and cal["fmr"] <= 0.1
    assert 0.5 < cal["threshold"] < 1.5
    assert main(["calibrate", "--labeled", str(labeled), "--cache", cache, "--json", "--no-progress"]) == 0
    assert json.loads(capsys.readouterr().out)["same_pairs"] == 8


def test_eval_bad_arguments_get_one_line_errors(tmp_path, capsys):
    assert main(["eval", "pairs"]) == 1
    assert "give either --lfw DIR or --pairs FILE.csv" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    assert main(["eval", "pairs", "--pairs", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs the columns path_a, path_b, same" in err
    assert main(["calibrate", "--labeled", str(tmp_path / "nope")]) == 2
    assert main(["eval", "cluster", "--labeled", str(tmp_path), "--set", "min_samples"]) == 2
    assert "expected NAME=VALUE" in capsys.readouterr().err
    assert main(["eval", "pairs", "--lfw", str(tmp_path)]) == 1
    assert "no pairs.txt" in capsys.readouterr().err


def test_right_person_share_counts_faces_in_a_cluster_of_their_own_name():
    from photoface.evaluate import right_person_share

    truth = np.array(["a", "a", "a", "b", "b", "c"], dtype=object)
    # cluster 0 is mostly a (2 right), cluster 1 is b's (2 right), c is noise (wrong), the third a is in b's
    assert right_person_share(truth, np.array([0, 0, 1, 1, 1, -1])) == round(4 / 6, 4)
    assert right_person_share(truth, np.array([5, 5, 5, 7, 7, 9])) == 1.0

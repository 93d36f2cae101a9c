"""What `photoface calibrate --from-names` measured on this library: one row per run, the
newest row of a model in force (its clustering values when they apply, its thresholds when
enough pairs measured them)."""
from __future__ import annotations

import json

from .base import now_iso


class Calibrations:
    def user_named_person_ids(self) -> set[int]:
        """People named by the user (in photoface or in another app's face tags): their faces
        are the user's own labels; names from a gallery or the classifier are guesses."""
        return {r[0] for r in self.db.execute(
            "SELECT id FROM people WHERE name IS NOT NULL AND name_source IN ('user', 'tags')")}

    def save_calibration(self, model: str, report: dict) -> int:
        with self.db.atomic():
            return self.db["calibrations"].insert({
                "at": now_iso(), "model": model, "report": json.dumps(report),
                "cluster_applies": int(bool(report["cluster"]["applies"])),
                "same_person_distance": report["thresholds"].get("same_person_distance"),
                "naming_distance": report["thresholds"].get("naming_distance")}).last_pk

    def latest_calibration(self, model: str) -> dict | None:
        """The newest calibration of ``model``: its report, with ``at``."""
        row = self.db.execute("SELECT at, report FROM calibrations WHERE model = ? ORDER BY id DESC LIMIT 1",
                              [model]).fetchone()
        return None if row is None else {"at": row[0], **json.loads(row[1])}

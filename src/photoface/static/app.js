// photoface: the few things plain forms cannot do.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Face boxes on a photo: positioned from data attributes (percentages of the photo).
  for (const box of document.querySelectorAll(".photo-wrap .box")) {
    box.style.left = box.dataset.x + "%";
    box.style.top = box.dataset.y + "%";
    box.style.width = box.dataset.w + "%";
    box.style.height = box.dataset.h + "%";
  }

  // A face the detector missed: drag a box on the photo (mouse, pen or touch).
  const adding = document.getElementById("add-face");
  const wrap = document.getElementById("photo-wrap");
  if (adding && wrap) {
    const img = wrap.querySelector("img");
    const button = adding.querySelector("button");
    let start = null, drawn = null;
    const at = (ev) => {
      const r = img.getBoundingClientRect();
      return [Math.min(Math.max(ev.clientX - r.left, 0), r.width), Math.min(Math.max(ev.clientY - r.top, 0), r.height)];
    };
    const show = (a, b) => {
      if (!drawn) { drawn = document.createElement("div"); drawn.className = "box drawn"; wrap.appendChild(drawn); }
      const r = img.getBoundingClientRect();
      const [x1, x2] = [Math.min(a[0], b[0]), Math.max(a[0], b[0])];
      const [y1, y2] = [Math.min(a[1], b[1]), Math.max(a[1], b[1])];
      Object.assign(drawn.style, { left: 100 * x1 / r.width + "%", top: 100 * y1 / r.height + "%",
        width: 100 * (x2 - x1) / r.width + "%", height: 100 * (y2 - y1) / r.height + "%" });
      const sx = adding.dataset.width / r.width, sy = adding.dataset.height / r.height;
      adding.elements.x1.value = (x1 * sx).toFixed(1); adding.elements.y1.value = (y1 * sy).toFixed(1);
      adding.elements.x2.value = (x2 * sx).toFixed(1); adding.elements.y2.value = (y2 * sy).toFixed(1);
      button.disabled = x2 - x1 < 4 || y2 - y1 < 4;
    };
    img.addEventListener("pointerdown", (ev) => {
      ev.preventDefault();
      start = at(ev);
      img.setPointerCapture(ev.pointerId);
    });
    img.addEventListener("pointermove", (ev) => { if (start) show(start, at(ev)); });
    img.addEventListener("pointerup", (ev) => { if (start) { show(start, at(ev)); start = null; adding.elements.name.focus(); } });
  }

  // Selected faces on a person's page.
  const form = document.getElementById("faces-form");
  if (form) {
    const counter = form.querySelector(".selected-count");
    const update = () => {
      const n = form.querySelectorAll("input[name=face]:checked").length;
      if (counter) counter.textContent = n ? n + " selected" : "";
    };
    form.addEventListener("change", update);
    // Unknown faces: select (or clear) a whole group of look-alikes at once.
    for (const button of form.querySelectorAll(".select-group")) {
      button.addEventListener("click", () => {
        const boxes = [...button.closest(".group").querySelectorAll("input[name=face]")];
        const all = boxes.every((b) => b.checked);
        boxes.forEach((b) => { b.checked = !all; });
        button.textContent = all ? "Select group" : "Clear group";
        update();
      });
    }
    update();
  }

  // Review queue: c confirm, r reject, s skip; the answer is posted without leaving the page.
  const items = [...document.querySelectorAll("ol.review .item")];
  if (!items.length) return;
  const token = document.querySelector("meta[name=csrf-token]").content;
  let at = 0;
  const focus = (i) => {
    items.forEach((el) => el.classList.remove("current"));
    at = Math.min(i, items.length - 1);
    items[at].classList.add("current");
    items[at].scrollIntoView({ block: "nearest" });
  };
  const answer = async (item, action) => {
    if (action !== "skip") {
      const body = new FormData();
      body.append("csrf", token);
      body.append("face", item.dataset.face);
      body.append("person", item.dataset.person);
      body.append("action", action);
      const res = await fetch(item.querySelector("form").getAttribute("action"), { method: "POST", body, headers: { "X-CSRF-Token": token } });
      if (!res.ok) { item.querySelector(".meta").textContent = "could not save: " + res.status; return; }
      item.classList.add("done");
      item.dataset.answer = action;
    }
    focus(items.indexOf(item) + 1);
  };
  for (const item of items) {
    for (const button of item.querySelectorAll("button")) {
      button.addEventListener("click", (ev) => {
        ev.preventDefault();
        answer(item, button.classList.contains("skip") ? "skip" : button.value);
      });
    }
  }
  document.addEventListener("keydown", (ev) => {
    if (ev.target.closest("input, textarea") || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const action = { c: "confirm", r: "reject", s: "skip" }[ev.key];
    if (action) { ev.preventDefault(); answer(items[at], action); }
  });
});

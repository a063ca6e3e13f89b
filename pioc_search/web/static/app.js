// Progressive enhancement only: every page works without this file.
"use strict";
document.documentElement.classList.add("js");

// Filters apply as soon as they change (without JS, the "Apply filters" button does it).
document.addEventListener("change", (event) => {
  const control = event.target;
  if (control.matches("[data-autosubmit]") && control.form) control.form.requestSubmit();
});

// "/" jumps to the search box, as on many search sites.
document.addEventListener("keydown", (event) => {
  if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.target.closest("input, textarea, select, [contenteditable]")) return;
  const box = document.getElementById("q");
  if (box) {
    event.preventDefault();
    box.focus();
    box.select();
  }
});

// On a phone the filters start folded so the results come first.
const filters = document.querySelector(".filters-box");
if (filters && window.matchMedia("(max-width: 760px)").matches) filters.open = false;

// Back and forward must show the search in the URL, not the controls as the user last left them.
window.addEventListener("pageshow", (event) => {
  const navigation = performance.getEntriesByType("navigation")[0];
  if (event.persisted || navigation?.type === "back_forward") document.getElementById("search")?.reset();
});

// Progressive enhancement, and all of the dashboard's script: the pages
// work without it. It keeps a queue's charts and counts live by fetching
// the server-rendered fragments again, and ticks every box of a table at once.
"use strict";
(function () {
  const every = 15000;
  async function refresh(id) {
    const el = document.getElementById(id);
    if (!el || !el.dataset.live || document.hidden) return;
    try {
      const answer = await fetch(el.dataset.live, { credentials: "same-origin" });
      if (answer.ok) el.innerHTML = await answer.text();
    } catch (_) {
      // Offline for a moment: the next round tries again.
    }
  }
  setInterval(() => { refresh("history"); refresh("counts"); }, every);
  document.addEventListener("change", (e) => {
    const all = e.target.closest("input[data-select-all]");
    if (!all) return;
    for (const box of document.querySelectorAll('input[type=checkbox][name=id]')) box.checked = all.checked;
  });
})();
// A form that asks before it acts (deleting a message).
document.addEventListener("submit", (e) => {
  const ask = e.target.dataset && e.target.dataset.confirm;
  if (ask && !window.confirm(ask)) e.preventDefault();
});

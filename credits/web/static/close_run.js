// The close page, while a close or a run of the checks goes in the background: ask the
// server how far it got every two seconds, show it, and reload the page when it has ended
// (the page then shows the result). Without JavaScript, reloading by hand does the same.
(function () {
  "use strict";
  var box = document.getElementById("run-progress");
  if (!box) return;
  var url = box.getAttribute("data-status-url");
  var count = document.getElementById("run-count");
  var bar = document.getElementById("run-bar");

  function later(ms) { window.setTimeout(poll, ms); }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (run) {
        if (!run) { later(5000); return; }
        if (run.status !== "running" || run.stopped) { window.location.reload(); return; }
        // The words come from the page, in its language: "{done} of {total} checks done."
        var pattern = box.getAttribute(run.phase === "closing" ? "data-progress-closing" : "data-progress");
        var text = pattern.replace("{done}", run.done).replace("{total}", run.total);
        if (count.textContent !== text) count.textContent = text;
        bar.value = run.done;
        later(2000);
      })
      .catch(function () { later(5000); });
  }
  later(1000);
})();

// A shared run's log: its stored event fragments (in a JSON script per run), applied as the
// live page applies them (htmx out-of-band swaps). Read-only: no socket, no control.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", () => {
    const sink = document.getElementById("run-stream-sink");
    document.querySelectorAll(".shared-turn script[type='application/json']").forEach((data) => {
      const fragments = JSON.parse(data.textContent);
      if (fragments.length) htmx.swap(sink, fragments.join(""), { swapStyle: "none" });
    });
  });
})();

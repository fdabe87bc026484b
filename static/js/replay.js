// Replay a finished run from its event log: at 1x/4x/16x its real pace (long pauses shortened),
// or step by step. The events are the ones the live page got (runs/<pk>/replay.json), applied
// the same way (htmx out-of-band swaps), into the same log.
(function () {
  "use strict";
  const LONGEST_PAUSE_MS = 1500;
  // A step is one entry of the log; the text streamed into it comes with it.
  const FOLLOWERS = new Set(["text_delta", "reasoning_delta", "message", "reasoning", "state"]);

  function replayer(box) {
    if (box.replayer) return box.replayer;
    const runId = box.dataset.runId;
    const layout = document.querySelector('[data-run-stream][data-run-id="' + runId + '"]');
    const stopButton = box.querySelector("[data-stop]");
    let events = null;
    let index = 0;
    let timer = null;

    async function load() {
      if (events) return events;
      const response = await fetch(box.dataset.replay, { headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error("replay unavailable");
      events = (await response.json()).events;
      return events;
    }

    function reset() {
      clearTimeout(timer);
      const log = document.getElementById("run-" + runId + "-log");
      if (log) log.innerHTML = "";
      index = 0;
      if (layout) layout.classList.add("replaying");
      stopButton.hidden = false;
    }

    function finish() {
      clearTimeout(timer);
      timer = null;
      stopButton.hidden = true;
      if (layout) layout.classList.remove("replaying");
    }

    function apply(event) {
      htmx.swap(document.getElementById("run-stream-sink"), event.html, { swapStyle: "none" });
      const entry = document.getElementById("run-" + runId + "-ev-" + event.seq);
      if (entry) {
        const log = entry.closest("ol.log");
        if (log && log.scrollHeight > log.clientHeight) log.scrollTop = log.scrollHeight;
      }
      return entry;
    }

    function tick(speed) {
      if (index >= events.length) { finish(); return; }
      apply(events[index]);
      index += 1;
      if (index >= events.length) { finish(); return; }
      const gap = Math.min(Math.max(events[index].at - events[index - 1].at, 0), LONGEST_PAUSE_MS);
      timer = setTimeout(() => tick(speed), gap / speed);
    }

    return (box.replayer = {
      async play(speed) {
        await load();
        reset();
        box.dataset.mode = "play";
        tick(speed);
      },
      async step() {
        await load();
        if (box.dataset.mode !== "step" || index >= events.length) {
          reset();
          box.dataset.mode = "step";
        }
        let entry = null;
        do {
          entry = apply(events[index]) || entry;
          index += 1;
        } while (index < events.length && (!entry || FOLLOWERS.has(events[index].kind)));
        if (entry) entry.scrollIntoView({ block: "nearest" });
        if (index >= events.length) finish();
      },
      stop() {
        // Show the whole log again.
        if (!events) return;
        while (index < events.length) { apply(events[index]); index += 1; }
        box.dataset.mode = "";
        finish();
      },
    });
  }

  // A run that finishes while the page is open can be replayed at once.
  document.addEventListener("run-finished", () => {
    document.querySelectorAll("[data-replay][hidden]").forEach((box) => { box.hidden = false; });
  });

  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-replay] button");
    if (!button) return;
    const player = replayer(button.closest("[data-replay]"));
    if (button.dataset.speed) player.play(Number(button.dataset.speed));
    else if (button.hasAttribute("data-step")) player.step();
    else if (button.hasAttribute("data-stop")) player.stop();
  });
})();

// Workspace console: POST a command, read the streamed text/plain answer chunk by chunk
// (fetch + ReadableStream) and append it to the <pre> as it arrives. The server ends the
// stream with "[dashboard] exit code N · T s" (or why it stopped the command); that line
// becomes the status badge. "Stop" aborts the request: the server then kills the command.
(function () {
  "use strict";
  const EXIT = /\n?\[dashboard\] exit code (-?\d+) · ([\d.]+) s\n?$/;
  const STOPPED = /\[dashboard\] (timed out|more than|the command could not)/;

  function setup(form) {
    const input = form.querySelector("input[name=command]");
    const output = form.querySelector("[data-output]");
    const status = form.querySelector("[data-console-status]");
    const runButton = form.querySelector("[data-run]");
    const stopButton = form.querySelector("[data-stop]");
    const token = form.querySelector("input[name=csrfmiddlewaretoken]").value;
    const history = [];
    let historyAt = 0;
    let controller = null;

    const setStatus = (text, cls) => {
      status.textContent = text;
      status.className = "small " + (cls ? "exit " + cls : "muted");
    };
    const append = (text) => {
      const atBottom = output.scrollTop + output.clientHeight >= output.scrollHeight - 4;
      output.append(text);
      if (atBottom) output.scrollTop = output.scrollHeight;
    };
    const busy = (running) => {
      runButton.disabled = running;
      stopButton.hidden = !running;
      form.classList.toggle("running", running);
    };

    async function run(command) {
      controller = new AbortController();
      output.replaceChildren();
      const prompt = document.createElement("span");
      prompt.className = "ws-echo";
      prompt.textContent = "$ " + command + "\n";
      output.append(prompt);
      setStatus("running…", "");
      busy(true);
      let text = "";
      try {
        const response = await fetch(form.action, {
          method: "POST",
          body: new URLSearchParams({ command: command, csrfmiddlewaretoken: token }),
          headers: { "X-CSRFToken": token },
          credentials: "same-origin",
          signal: controller.signal,
        });
        if (!response.ok) {
          append(await response.text());
          setStatus(`refused (HTTP ${response.status})`, "bad");
          return;
        }
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          text += value;
          append(value);
        }
        const exit = EXIT.exec(text);
        if (exit) {
          // The last line becomes the badge; the output keeps only what the command wrote.
          const written = text.replace(EXIT, "");
          output.replaceChildren(prompt, written ? written + "\n" : "(no output)\n");
          const code = Number(exit[1]);
          setStatus(`exit ${code} · ${Number(exit[2]).toFixed(2)} s`, code === 0 ? "ok" : "bad");
        } else if (STOPPED.test(text)) {
          setStatus("stopped", "bad");
        } else {
          setStatus("connection lost before the command finished", "bad");
        }
      } catch (error) {
        if (error.name === "AbortError") {
          append("\n[stopped from the browser]\n");
          setStatus("stopped", "bad");
        } else {
          setStatus("connection lost: " + error.message, "bad");
        }
      } finally {
        busy(false);
        controller = null;
        input.focus();
      }
    }

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const command = input.value.trim();
      if (!command || controller) return;
      if (history[history.length - 1] !== command) history.push(command);
      historyAt = history.length;
      run(command);
    });
    stopButton.addEventListener("click", () => controller && controller.abort());
    input.addEventListener("keydown", (event) => {
      if (event.key !== "ArrowUp" && event.key !== "ArrowDown") return;
      if (!history.length) return;
      event.preventDefault();
      historyAt = Math.max(0, Math.min(history.length, historyAt + (event.key === "ArrowUp" ? -1 : 1)));
      input.value = history[historyAt] || "";
    });
    form.querySelectorAll("[data-example]").forEach((button) => {
      button.addEventListener("click", () => {
        input.value = button.dataset.example;
        input.focus();
      });
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-console]").forEach(setup);
  });
})();

/* A long operation's page (templates/admin/operations/operation/change_form.html): while it
   is queued or running, ask status.json every few seconds and update the bar in place, then
   reload the page once it is finished. A static file, so the Content-Security-Policy allows it. */
(function () {
  "use strict";
  var panel = document.getElementById("operation-progress");
  if (!panel) { return; }
  var url = panel.dataset.statusUrl;
  var delay = parseInt(panel.dataset.pollSeconds, 10) * 1000;
  var bar = panel.querySelector("progress");
  var percent = panel.querySelector(".operation-percent");
  var status = panel.querySelector(".operation-status");
  var step = panel.querySelector(".operation-step");

  function show(data) {
    status.textContent = data.status_label;
    status.dataset.status = data.status;
    step.textContent = data.step ? "· " + data.step : "";
    if (data.percent === null) { bar.removeAttribute("value"); } else { bar.value = data.percent; }
    bar.textContent = data.progress;
    percent.textContent = data.progress;
  }

  function poll() {
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) {
        if (!response.ok) { throw new Error(response.status); }
        return response.json();
      })
      .then(function (data) {
        show(data);
        // Finished: the page itself shows the outcome, the file and the times.
        if (data.finished) { window.location.reload(); } else { window.setTimeout(poll, delay); }
      })
      .catch(function () { window.setTimeout(poll, delay * 2); });
  }

  window.setTimeout(poll, delay);
})();

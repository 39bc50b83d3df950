/* klbuild serve only: reloads the page after a rebuild and shows build errors.
   Never part of a built site. */
(function () {
  "use strict";
  var script = document.currentScript;
  var build = Number(script.getAttribute("data-build"));
  var journey = document.body ? document.body.getAttribute("data-journey") : null;
  var overlay = null;

  function showProblems() {
    fetch("/__klbuild/overlay", { cache: "no-store" })
      .then(function (response) { return response.text(); })
      .then(function (html) {
        if (!overlay) {
          overlay = document.createElement("div");
          overlay.id = "klbuild-overlay";
          document.body.appendChild(overlay);
        }
        overlay.innerHTML = html;
        var heading = overlay.querySelector("h2");
        if (heading) heading.focus();
      });
  }

  function concerns(data) {
    return data.all || !journey || data.journeys.indexOf(journey) !== -1;
  }

  var events = new EventSource("/__klbuild/events");
  events.addEventListener("hello", function (event) {
    var data = JSON.parse(event.data);
    if (data.problems) showProblems();
    else if (data.build > build) location.reload();
  });
  events.addEventListener("reload", function (event) {
    var data = JSON.parse(event.data);
    if (overlay || concerns(data)) location.reload();
    else build = data.build;
  });
  events.addEventListener("problems", showProblems);
})();

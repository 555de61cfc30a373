(function () {
  "use strict";
  /* Optional comfort only: the page reads the same without it. */
  var box = document.getElementById("only-problems");
  var controls = document.getElementById("controls");
  if (box && controls) {
    controls.hidden = false;
    box.addEventListener("change", function () {
      document.body.classList.toggle("only-problems", box.checked);
    });
  }
  /* Print every piece of evidence, not only the opened ones. */
  window.addEventListener("beforeprint", function () {
    document.querySelectorAll("details").forEach(function (d) { d.setAttribute("open", ""); });
  });
})();

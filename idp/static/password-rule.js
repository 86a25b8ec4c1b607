// Live checklist of the password rule while typing. The page works without
// it: the server checks the same rule and names what is missing.
(function () {
  "use strict";
  var list = document.getElementById("password-rule");
  if (!list) { return; }
  var password = document.getElementById(list.getAttribute("data-password"));
  var repeat = document.getElementById(list.getAttribute("data-repeat"));
  var status = document.getElementById("password-rule-status");
  var checks = {
    length: function (p) { return Array.from(p).length >= 8; },
    lower: function (p) { return /\p{Ll}/u.test(p); },
    upper: function (p) { return /\p{Lu}/u.test(p); },
    digit: function (p) { return /\p{Nd}/u.test(p); },
    special: function (p) { return /[^\p{L}\p{N}]/u.test(p); },
    match: function (p, r) { return p.length > 0 && p === r; }
  };
  function update() {
    var met = 0, items = list.querySelectorAll("[data-rule]");
    items.forEach(function (item) {
      var ok = checks[item.getAttribute("data-rule")](password.value, repeat ? repeat.value : "");
      item.classList.toggle("met", ok);
      item.querySelector(".state").textContent = ok ? list.getAttribute("data-met")
                                                    : list.getAttribute("data-unmet");
      if (ok) { met += 1; }
    });
    if (status) {
      status.textContent = met === items.length ? list.getAttribute("data-all") : "";
    }
  }
  password.addEventListener("input", update);
  if (repeat) { repeat.addEventListener("input", update); }
  update();
}());

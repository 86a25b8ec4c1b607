// The cross-device wallet page: ask every two seconds whether the wallet has
// answered; once it has (or the request expired), go to the result. Without
// JavaScript the "Check now" button does the same.
(function () {
  "use strict";
  var poll = document.getElementById("wallet-poll");
  if (!poll || !window.fetch) { return; }
  function ask() {
    fetch(poll.dataset.statusUrl, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.ok ? r.json() : {status: "expired"}; })
      .then(function (data) {
        if (data.status === "pending") { window.setTimeout(ask, 2000); }
        else { window.location.assign(poll.dataset.checkUrl); }
      })
      .catch(function () { window.setTimeout(ask, 5000); });
  }
  window.setTimeout(ask, 2000);
})();

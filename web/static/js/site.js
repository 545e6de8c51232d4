/* A site's page: its position on the map and directions from a chosen start
   (/api/directions-text: the route where a road network covers it, else an estimate). */
(function () {
  "use strict";
  var cfg = Daofu.config();
  var site = cfg.site;
  var form = document.getElementById("directions-form");
  var messages = document.getElementById("messages");
  var routePanel = document.getElementById("route-panel");
  var text = document.getElementById("directions-text");
  var steps = document.getElementById("steps");
  var state = { start: null };

  document.getElementById("print").addEventListener("click", function () {
    window.print();
  });

  var ctx = Daofu.createMap("map", cfg);
  var cityCode = site.region_code.slice(0, 4) + "00000000";
  ctx.showCity(cityCode, false);
  ctx.map.setView(ctx.toLatLng(site.lonlat), 16);
  var feature = { type: "Feature", id: site.id, geometry: { type: "Point", coordinates: site.lonlat }, properties: { name: site.name, level: "city" } };
  L.marker(ctx.toLatLng(site.lonlat), {
    icon: L.divIcon({ className: "site-pin", html: "办", iconSize: [30, 30] }),
    title: site.name,
    keyboard: false,
  }).addTo(ctx.map);

  var picker = Daofu.startPicker(ctx, {
    messages: messages,
    onStart: function (lonlat) {
      state.start = lonlat;
    },
  });
  picker.loadDistricts(cityCode);

  if (site.retired) {
    form.querySelectorAll("button, select, input").forEach(function (control) {
      control.disabled = true;
    });
  }

  function mode() {
    return form.querySelector("input[name=mode]:checked").value;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    messages.replaceChildren();
    if (!state.start) {
      Daofu.message(messages, "请先设置出发点：点击地图、使用我的位置或选择区县/街道。", "error");
      return;
    }
    Daofu.api("/api/directions-text", { site: site.id, from: state.start.join(","), mode: mode() })
      .then(function (answer) {
        routePanel.hidden = false;
        text.textContent = answer.text;
        if (answer.estimate) text.classList.add("estimate");
        else text.classList.remove("estimate");
        if (answer.route) {
          ctx.drawRoute(answer.route, { fit: true });
          Daofu.renderSteps(steps, answer.route);
        } else {
          ctx.clearRoutes();
          steps.replaceChildren();
          var bounds = L.latLngBounds([ctx.toLatLng(state.start), ctx.toLatLng(feature.geometry.coordinates)]);
          ctx.map.fitBounds(bounds, { padding: [30, 30], maxZoom: 16 });
        }
      })
      .catch(function (error) {
        Daofu.showError(messages, error);
      });
  });

  document.getElementById("copy-text").addEventListener("click", function () {
    if (navigator.clipboard) navigator.clipboard.writeText(text.textContent).catch(function () {});
  });

  Daofu.sitePage = { ctx: ctx, state: state, setStart: picker.setStart };
})();

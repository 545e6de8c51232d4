/* The change-set page of the maintainer console: the changes on our offline base map —
   added green (新), changed orange (改), retired grey crossed (×), and a dashed line from
   where a moved record was to where it goes. Data: /api/change-sets/{id}/preview (the
   session cookie authenticates it). Needs Leaflet, coords.js and common.js. */
(function () {
  "use strict";
  var el = Daofu.el;
  var cfg = Daofu.config();
  var preview = cfg.preview;
  var status = document.getElementById("map-status");
  if (!preview || !document.getElementById("map")) return;

  var KINDS = {
    added: { label: "新增", glyph: "新" },
    changed: { label: "修改", glyph: "改" },
    retired: { label: "撤销", glyph: "×" },
  };
  var MANY = 1000; // beyond this, light canvas dots instead of one element per marker
  var FIELD_NAMES = {
    name: "名称", level: "层级", kind: "类型", category: "类别", subcategory: "子类",
    region_code: "区划代码", department: "部门", address: "地址", phone: "电话",
    opening_hours: "办公时间", lon: "经度", lat: "纬度",
  };

  var ctx = Daofu.createMap("map", cfg);
  var city = (cfg.cities || []).filter(function (c) {
    return c.code === preview.city;
  })[0];
  ctx.map.setView(ctx.toLatLng(city && city.centre ? city.centre : [117.0, 36.65]), 11);
  ctx.showCity(preview.city, false);

  var layer = L.featureGroup().addTo(ctx.map);

  function card(feature) {
    var p = feature.properties;
    var kind = KINDS[p.change] || { label: p.change };
    var fields = (p.fields_changed || []).map(function (name) {
      return FIELD_NAMES[name] || name;
    });
    return el("div", { class: "site-card change-card" }, [
      el("h3", { class: "site-name", text: p.name || "（无名称）" }),
      el("p", {}, [el("span", { class: "action " + p.change, text: kind.label })]),
      p.row !== null && p.row !== undefined ? el("p", { text: "文件第 " + p.row + " 行" }) : null,
      p.id ? el("p", { text: "编号 #" + p.id }) : null,
      fields.length ? el("p", { text: "变更字段：" + fields.join("、") }) : null,
      p.moved_from ? el("p", { class: "moved", text: "位置移动：虚线从原位置指向新位置" }) : null,
    ]);
  }

  function draw(collection) {
    var features = collection.features || [];
    var many = features.length > MANY;
    var renderer = many ? L.canvas({ padding: 0.3 }) : null;
    var counts = { added: 0, changed: 0, retired: 0 };
    features.forEach(function (feature) {
      var p = feature.properties;
      var at = ctx.toLatLng(feature.geometry.coordinates);
      counts[p.change] = (counts[p.change] || 0) + 1;
      if (p.moved_from) {
        var from = ctx.toLatLng(p.moved_from);
        L.polyline([from, at], {
          color: "#a15c00", weight: 2, dashArray: "5 5", className: "cs-move", interactive: false,
        }).addTo(layer);
        L.circleMarker(from, {
          radius: 5, color: "#a15c00", weight: 2, fill: false, className: "cs-old", interactive: false,
        }).addTo(layer);
      }
      var marker;
      if (many) {
        marker = L.circleMarker(at, {
          renderer: renderer,
          radius: 5,
          color: "#fff",
          weight: 1,
          fillColor: p.change === "added" ? "#2e7d32" : p.change === "changed" ? "#e67e00" : "#8a8a8a",
          fillOpacity: 0.9,
        });
      } else {
        marker = L.marker(at, {
          icon: L.divIcon({
            className: "cs-marker cs-" + p.change,
            html: (KINDS[p.change] || { glyph: "?" }).glyph,
            iconSize: [26, 26],
          }),
          title: (p.name || "") + "（" + ((KINDS[p.change] || {}).label || p.change) + "）",
          riseOnHover: true,
          zIndexOffset: p.change === "retired" ? 0 : 500,
        });
      }
      marker.bindPopup(function () {
        return card(feature);
      }, { maxWidth: 280 });
      marker.addTo(layer);
    });
    if (features.length === 1) {
      ctx.map.setView(ctx.toLatLng(features[0].geometry.coordinates), 14, { animate: false });
    } else if (features.length > 1) {
      ctx.map.fitBounds(layer.getBounds(), { padding: [30, 30], maxZoom: 15, animate: false });
    }
    status.textContent =
      "地图上：新增 " + counts.added + "，修改 " + counts.changed + "，撤销 " + counts.retired + "。";
    document.getElementById("map").setAttribute("data-ready", String(features.length));
  }

  /* The published sites around the changes, faint, so a reviewer sees the neighbours
     (a near-duplicate, a hall that moved onto another). Changed and retired ones are
     drawn by the preview itself. */
  var neighbours = L.layerGroup().addTo(ctx.map);
  var neighboursKey = "";
  var touched = {};
  function loadNeighbours() {
    if (ctx.map.getZoom() < 13) {
      neighbours.clearLayers();
      neighboursKey = "";
      return;
    }
    var b = ctx.map.getBounds();
    var sw = ctx.toLonLat(b.getSouthWest());
    var ne = ctx.toLonLat(b.getNorthEast());
    var bbox = [sw[0], sw[1], ne[0], ne[1]].map(function (v) { return v.toFixed(4); }).join(",");
    if (bbox === neighboursKey) return;
    neighboursKey = bbox;
    Daofu.api("/api/sites", { bbox: bbox, limit: 500 })
      .then(function (collection) {
        neighbours.clearLayers();
        collection.features.forEach(function (feature) {
          if (touched[feature.id]) return;
          L.circleMarker(ctx.toLatLng(feature.geometry.coordinates), {
            radius: 4, color: "#5b6b7b", weight: 1, fillColor: "#aab6c2", fillOpacity: 0.7,
            className: "cs-neighbour",
          })
            .bindTooltip(feature.properties.name)
            .addTo(neighbours);
        });
      })
      .catch(function () {
        neighboursKey = "";
      });
  }

  Daofu.api(preview.url)
    .then(function (collection) {
      (collection.features || []).forEach(function (feature) {
        if (feature.properties.id) touched[feature.properties.id] = true;
      });
      draw(collection);
      loadNeighbours();
      ctx.map.on("moveend", loadNeighbours);
    })
    .catch(function (error) {
      status.textContent = "地图预览加载失败：" + error.message;
      status.classList.add("error");
    });

  Daofu.consolePage = { ctx: ctx, layer: layer };
})();

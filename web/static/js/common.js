/* Shared by the map pages: DOM building (text only, never HTML from data), the JSON
   API, formatting, the offline base map drawn from our own data, the start picker and
   the site card. Needs Leaflet (L) and coords.js (DaofuCoords). */
(function (global) {
  "use strict";
  var Daofu = (global.Daofu = global.Daofu || {});

  Daofu.config = function () {
    var node = document.getElementById("daofu-config");
    return node ? JSON.parse(node.textContent) : {};
  };

  /* el("p", {class: "x", text: "…"}, [children]): data goes in as text nodes only. */
  function el(tag, props, children) {
    var node = document.createElement(tag);
    props = props || {};
    Object.keys(props).forEach(function (key) {
      var value = props[key];
      if (value === null || value === undefined || value === false) return;
      if (key === "text") node.textContent = String(value);
      else if (key === "class") node.className = value;
      else if (key === "on") {
        Object.keys(value).forEach(function (name) {
          node.addEventListener(name, value[name]);
        });
      } else node.setAttribute(key, value === true ? "" : String(value));
    });
    (children || []).forEach(function (child) {
      if (child === null || child === undefined || child === false) return;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }
  Daofu.el = el;

  Daofu.option = function (value, label) {
    return el("option", { value: value, text: label });
  };

  /* GET a JSON API; rejects with an Error carrying the problem+json answer. */
  Daofu.api = function (path, params, options) {
    var url = new URL(path, global.location.origin);
    Object.keys(params || {}).forEach(function (key) {
      var value = params[key];
      if (value === null || value === undefined || value === "") return;
      [].concat(value).forEach(function (v) {
        url.searchParams.append(key, v);
      });
    });
    var init = { headers: { Accept: "application/json" } };
    if (options && options.signal) init.signal = options.signal;
    return fetch(url.toString(), init).then(function (response) {
      return response
        .json()
        .catch(function () {
          return {};
        })
        .then(function (body) {
          if (!response.ok) {
            var error = new Error(body.detail || body.title || "HTTP " + response.status);
            error.status = response.status;
            error.problem = body;
            throw error;
          }
          return body;
        });
    });
  };

  var DAYS = { Mo: "周一", Tu: "周二", We: "周三", Th: "周四", Fr: "周五", Sa: "周六", Su: "周日" };
  Daofu.fmt = {
    duration: function (seconds) {
      var minutes = Math.max(1, Math.round(seconds / 60));
      if (minutes < 60) return minutes + "分钟";
      var rest = minutes % 60;
      return Math.floor(minutes / 60) + "小时" + (rest ? rest + "分钟" : "");
    },
    distance: function (metres) {
      if (metres >= 1000) return (metres / 1000).toFixed(1) + "公里";
      return Math.max(10, Math.round(metres / 10) * 10) + "米";
    },
    /* ISO times of the API are Beijing time (+08:00): read the clock off the text. */
    clock: function (iso, reference) {
      if (!iso) return "";
      var time = iso.slice(11, 16);
      if (reference && iso.slice(0, 10) !== reference.slice(0, 10)) {
        return Number(iso.slice(5, 7)) + "月" + Number(iso.slice(8, 10)) + "日 " + time;
      }
      return time;
    },
    /* OSM opening_hours → a Chinese reading (the site page has the exact days). */
    hours: function (expression) {
      return String(expression)
        .replace(/24\/7/g, "全天24小时")
        .replace(/\bPH off\b/g, "法定节假日休息")
        .replace(/\bPH\b/g, "法定节假日")
        .replace(/\b(Mo|Tu|We|Th|Fr|Sa|Su)-(Mo|Tu|We|Th|Fr|Sa|Su)\b/g, function (_, a, b) {
          return DAYS[a] + "至" + DAYS[b];
        })
        .replace(/\b(Mo|Tu|We|Th|Fr|Sa|Su)\b/g, function (day) {
          return DAYS[day];
        })
        .replace(/\boff\b/g, "休息")
        .replace(/(\d\d:\d\d)-(\d\d:\d\d)/g, "$1–$2")
        .replace(/;\s*/g, "；")
        .replace(/,/g, "、");
    },
  };

  /* Beijing time now, for a datetime-local input: 2026-11-24T09:30 */
  Daofu.beijingNow = function () {
    var parts = {};
    new Intl.DateTimeFormat("en-GB", {
      timeZone: "Asia/Shanghai",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      hour12: false,
    })
      .formatToParts(new Date())
      .forEach(function (p) {
        parts[p.type] = p.value;
      });
    var hour = parts.hour === "24" ? "00" : parts.hour;
    return parts.year + "-" + parts.month + "-" + parts.day + "T" + hour + ":" + parts.minute;
  };

  Daofu.message = function (container, text, kind) {
    container.appendChild(el("p", { class: "message " + (kind || "info"), text: text }));
  };

  /* What went wrong, for a citizen: the answer's detail, with plain words first where the
     detail is written for administrators (e.g. the command that imports a road network). */
  var PLAIN = {
    no_road_network: "此处尚未导入道路数据，无法计算路线。",
    outside_network: "出发点离道路太远，请在道路附近重新选择出发点。",
    unreachable: "按所选出行方式无法到达，请换一种出行方式。",
    bundle_not_feasible: "附近的场所无法在营业时间内办完这件事。",
  };
  Daofu.showError = function (container, error) {
    var code = error.problem && error.problem.code;
    if (PLAIN[code]) {
      container.appendChild(
        el("div", { class: "message error" }, [
          el("p", { text: PLAIN[code] }),
          el("details", {}, [el("summary", { text: "说明 Details" }), el("p", { text: error.message })]),
        ])
      );
    } else {
      Daofu.message(container, error.message || String(error), "error");
    }
  };

  function escapeHtml(text) {
    var div = document.createElement("div");
    div.textContent = text || "";
    return div.innerHTML;
  }

  var LEVEL_COLOURS = { city: "#b71c1c", district: "#d84315", street: "#2e7d32", community: "#1565c0" };
  var ROAD_STYLE = {
    main: { color: "#e39b35", weight: 4 },
    middle: { color: "#f2cf73", weight: 3 },
    minor: { color: "#ffffff", weight: 2 },
    path: { color: "#b9a993", weight: 1, dashArray: "3 3" },
  };
  var MAIN = ["motorway", "trunk", "primary", "motorway_link", "trunk_link", "primary_link"];
  var MIDDLE = ["secondary", "tertiary", "secondary_link", "tertiary_link"];
  var PATHS = ["footway", "path", "steps", "pedestrian", "cycleway", "track", "bridleway"];

  function roadStyle(feature) {
    var h = feature.properties.highway;
    if (MAIN.indexOf(h) >= 0) return ROAD_STYLE.main;
    if (MIDDLE.indexOf(h) >= 0) return ROAD_STYLE.middle;
    if (PATHS.indexOf(h) >= 0) return ROAD_STYLE.path;
    return ROAD_STYLE.minor;
  }

  /* The map: our base layer (district boundaries, roads of the active networks), an online
     tile layer if the settings name one, and helpers that convert our WGS-84 data to the
     display system (GCJ-02 when the tile layer is GCJ-02) and clicks back. */
  Daofu.createMap = function (elementId, cfg) {
    var display = cfg.tile && cfg.tile.crs === "gcj02" ? "gcj02" : "wgs84";
    function toLatLng(lonlat) {
      var p = display === "gcj02" ? DaofuCoords.wgs84ToGcj02(lonlat[0], lonlat[1]) : lonlat;
      return L.latLng(p[1], p[0]);
    }
    function toLonLat(latlng) {
      if (display === "gcj02") return DaofuCoords.gcj02ToWgs84(latlng.lng, latlng.lat);
      return [latlng.lng, latlng.lat];
    }
    function coordsToLatLng(c) {
      return toLatLng(c);
    }

    var map = L.map(elementId, { zoomControl: true, minZoom: 4, maxZoom: 19 });
    map.attributionControl.setPrefix(false);
    map.attributionControl.addAttribution(escapeHtml(cfg.attribution));
    [
      ["districts", 300],
      ["roads", 350],
    ].forEach(function (pane) {
      map.createPane(pane[0]).style.zIndex = pane[1];
    });

    var roads = L.layerGroup();
    var districts = L.layerGroup();
    var extent = L.layerGroup();
    var bases = { "本地底图（离线）": roads };
    roads.addTo(map);
    districts.addTo(map);
    extent.addTo(map);
    if (cfg.tile) {
      var subdomains = cfg.tile.url.indexOf("t{s}.") >= 0 ? "01234567" : "abc";
      bases["在线地图"] = L.tileLayer(cfg.tile.url, {
        attribution: escapeHtml(cfg.tile.attribution),
        subdomains: subdomains,
        maxZoom: 18,
      });
    }
    L.control
      .layers(bases, { "区县边界": districts, "路网覆盖范围": extent }, { collapsed: true })
      .addTo(map);
    L.control.scale({ imperial: false }).addTo(map);

    var roadsKey = "";
    var roadsAbort = null;
    function loadRoads() {
      var size = map.getSize();
      if (!map.hasLayer(roads) || size.x < 10 || size.y < 10) return; // hidden (print view)
      if (map.getZoom() < 12) {
        roads.clearLayers();
        roadsKey = "";
        return;
      }
      var bounds = map.getBounds().pad(0.2);
      var sw = toLonLat(bounds.getSouthWest());
      var ne = toLonLat(bounds.getNorthEast());
      var bbox = [sw[0], sw[1], ne[0], ne[1]]
        .map(function (v) {
          return v.toFixed(4);
        })
        .join(",");
      if (bbox === roadsKey) return;
      roadsKey = bbox;
      if (roadsAbort) roadsAbort.abort();
      roadsAbort = new AbortController();
      Daofu.api("/api/roads", { bbox: bbox }, { signal: roadsAbort.signal })
        .then(function (collection) {
          roads.clearLayers();
          L.geoJSON(collection, {
            pane: "roads",
            coordsToLatLng: coordsToLatLng,
            style: roadStyle,
            interactive: false,
          }).addTo(roads);
        })
        .catch(function (error) {
          if (error.name !== "AbortError") roadsKey = "";
        });
    }
    map.on("moveend", loadRoads);
    map.on("baselayerchange", loadRoads);

    var cityShown = null;
    function showCity(code, fit) {
      var city = (cfg.cities || []).filter(function (c) {
        return c.code === code;
      })[0];
      if (fit && city) {
        if (city.network) {
          var n = city.network;
          map.fitBounds(L.latLngBounds(toLatLng([n[0], n[1]]), toLatLng([n[2], n[3]])));
        } else if (city.centre) {
          map.setView(toLatLng(city.centre), 10);
        }
      }
      if (cityShown === code) return Promise.resolve();
      cityShown = code;
      districts.clearLayers();
      extent.clearLayers();
      if (city && city.network) {
        var b = city.network;
        L.rectangle(L.latLngBounds(toLatLng([b[0], b[1]]), toLatLng([b[2], b[3]])), {
          pane: "districts",
          color: "#1565c0",
          weight: 1.5,
          dashArray: "6 4",
          fill: false,
          interactive: false,
        }).addTo(extent);
      }
      return Daofu.api("/api/regions/" + encodeURIComponent(code)).then(function (detail) {
        detail.children
          .filter(function (c) {
            return c.level === "district";
          })
          .forEach(function (d) {
            Daofu.api("/api/regions/" + encodeURIComponent(d.code), { geometry: true }).then(
              function (district) {
                if (!district.boundary || cityShown !== code) return;
                L.geoJSON(district.boundary, {
                  pane: "districts",
                  coordsToLatLng: coordsToLatLng,
                  style: { color: "#9c8f80", weight: 1, fillColor: "#f8f5ef", fillOpacity: 0.7 },
                  interactive: false,
                }).addTo(districts);
                if (district.centre) {
                  L.tooltip({ permanent: true, direction: "center", className: "district-label" })
                    .setLatLng(toLatLng(district.centre.coordinates))
                    .setContent(document.createTextNode(district.name))
                    .addTo(districts);
                }
              }
            );
          });
        return detail;
      });
    }

    var startMarker = null;
    function setStart(lonlat) {
      var icon = L.divIcon({ className: "start-marker", html: "起", iconSize: [28, 28] });
      if (startMarker) startMarker.setLatLng(toLatLng(lonlat));
      else startMarker = L.marker(toLatLng(lonlat), { icon: icon, title: "出发点", zIndexOffset: 1000 }).addTo(map);
    }

    var routes = L.layerGroup().addTo(map);
    function drawRoute(feature, options) {
      options = options || {};
      if (!options.keep) routes.clearLayers();
      var line = L.geoJSON(feature.geometry, {
        coordsToLatLng: coordsToLatLng,
        style: {
          color: options.colour || "#1565c0",
          weight: 6,
          opacity: 0.85,
          className: "daofu-route",
        },
        interactive: false,
      }).addTo(routes);
      if (options.fit) map.fitBounds(line.getBounds(), { padding: [30, 30], maxZoom: 17 });
      return line;
    }

    function siteMarker(feature, options) {
      options = options || {};
      var latlng = toLatLng(feature.geometry.coordinates);
      var marker;
      if (options.number) {
        marker = L.marker(latlng, {
          icon: L.divIcon({ className: "number-marker", html: String(Number(options.number)), iconSize: [26, 26] }),
          title: feature.properties.name,
          riseOnHover: true,
        });
      } else {
        marker = L.circleMarker(latlng, {
          radius: options.radius || 6,
          color: "#fff",
          weight: 1.5,
          fillColor: LEVEL_COLOURS[feature.properties.level] || "#555",
          fillOpacity: 0.9,
          bubblingMouseEvents: false,
          className: "site-marker",
        });
      }
      marker.bindPopup(function () {
        return Daofu.siteCard(feature, options);
      }, { maxWidth: 300 });
      return marker;
    }

    return {
      map: map,
      display: display,
      toLatLng: toLatLng,
      toLonLat: toLonLat,
      showCity: showCity,
      setStart: setStart,
      drawRoute: drawRoute,
      clearRoutes: function () {
        routes.clearLayers();
      },
      siteMarker: siteMarker,
    };
  };

  /* The card of a site (map popups, lists): every value goes in as text. */
  Daofu.siteCard = function (feature, options) {
    options = options || {};
    var p = feature.properties;
    var actions = el("p", { class: "card-actions" }, [
      options.onRoute
        ? el("button", {
            type: "button",
            class: "secondary route-button",
            text: "到这里的路线",
            on: {
              click: function () {
                options.onRoute(feature);
              },
            },
          })
        : null,
      el("a", { href: "/sites/" + encodeURIComponent(feature.id), text: "详情 »" }),
    ]);
    return el("div", { class: "site-card" }, [
      el("h3", { class: "site-name", text: p.name }),
      el("p", { class: "badges" }, [
        p.demo ? el("span", { class: "badge demo", text: p.demo_label || "示例数据" }) : null,
        p.level_name ? el("span", { class: "badge", text: p.level_name }) : null,
        p.kind_name ? el("span", { class: "badge", text: p.kind_name }) : null,
      ]),
      p.address ? el("p", { text: "地址：" + p.address }) : null,
      p.phone
        ? el("p", {}, ["电话：", el("a", { href: "tel:" + p.phone.replace(/\s+/g, ""), text: p.phone })])
        : null,
      p.opening_hours ? el("p", { class: "hours", text: "营业时间：" + Daofu.fmt.hours(p.opening_hours) }) : null,
    ].concat(options.extra || [], [actions]));
  };

  Daofu.renderSteps = function (list, route) {
    list.replaceChildren();
    (route.properties.steps || []).forEach(function (step) {
      list.appendChild(el("li", { text: step.instruction }));
    });
  };

  /* Start: a click on the map, the browser's location, or a district / street / community
     (street boundaries are not public: a street's start is its service centre's position). */
  Daofu.startPicker = function (ctx, options) {
    var district = document.getElementById("district");
    var street = document.getElementById("street");
    var community = document.getElementById("community");
    var locate = document.getElementById("locate");
    var startText = document.getElementById("start-text");
    var messages = options.messages;
    var districtPoint = null;
    var streetPoint = null;

    function setStart(lonlat, label) {
      ctx.setStart(lonlat);
      startText.textContent = "出发点：" + label;
      if (options.onStart) options.onStart(lonlat, label);
    }

    ctx.map.on("click", function (event) {
      var lonlat = ctx.toLonLat(event.latlng);
      setStart(lonlat, "地图上选定的位置（" + lonlat[0].toFixed(5) + ", " + lonlat[1].toFixed(5) + "）");
    });

    locate.addEventListener("click", function () {
      if (!navigator.geolocation) {
        Daofu.message(messages, "此浏览器不支持定位，请在地图上点击出发点。", "error");
        return;
      }
      locate.disabled = true;
      navigator.geolocation.getCurrentPosition(
        function (position) {
          locate.disabled = false;
          var lonlat = [position.coords.longitude, position.coords.latitude];
          setStart(lonlat, "我的位置");
          ctx.map.setView(ctx.toLatLng(lonlat), 15);
        },
        function (error) {
          locate.disabled = false;
          Daofu.message(messages, "无法获取您的位置（" + error.message + "），请在地图上点击出发点。", "error");
        },
        { enableHighAccuracy: true, timeout: 10000 }
      );
    });

    function reset(select, label) {
      select.replaceChildren(Daofu.option("", label));
      select.disabled = true;
    }

    function fill(select, label, regions) {
      reset(select, label);
      regions.forEach(function (r) {
        select.appendChild(Daofu.option(r.code, r.name));
      });
      select.disabled = regions.length === 0;
    }

    /* Where a division's start goes: its own service centre, any site in it, its centre. */
    function regionPoint(code, level) {
      return Daofu.api("/api/sites", { region: code, level: level, kind: "hall", limit: 1 })
        .then(function (found) {
          return found.features.length ? found : Daofu.api("/api/sites", { region: code, limit: 1 });
        })
        .then(function (found) {
          if (found.features.length) {
            var f = found.features[0];
            return { lonlat: f.geometry.coordinates, via: f.properties.name };
          }
          return Daofu.api("/api/regions/" + encodeURIComponent(code)).then(function (region) {
            return region.centre ? { lonlat: region.centre.coordinates, via: "区域中心" } : null;
          });
        });
    }

    function startAt(code, level, name, fallback) {
      return regionPoint(code, level).then(function (point) {
        point = point || fallback;
        if (!point) {
          Daofu.message(messages, name + "：没有可用的位置，请在地图上点击出发点。", "error");
          return null;
        }
        setStart(point.lonlat, name + "（以" + point.via + "的位置为起点）");
        ctx.map.setView(ctx.toLatLng(point.lonlat), Math.max(ctx.map.getZoom(), 15));
        return point;
      });
    }

    function selectedName(select) {
      return select.options[select.selectedIndex].textContent;
    }

    district.addEventListener("change", function () {
      reset(street, "选择街道(镇)");
      reset(community, "选择社区(村)");
      if (!district.value) return;
      districtPoint = null;
      startAt(district.value, "district", selectedName(district), null).then(function (point) {
        districtPoint = point;
      });
      Daofu.api("/api/regions", { parent: district.value, level: "street", limit: 500 }).then(function (list) {
        fill(street, "选择街道(镇)", list.regions);
      });
    });

    street.addEventListener("change", function () {
      reset(community, "选择社区(村)");
      if (!street.value) return;
      startAt(street.value, "street", selectedName(street), districtPoint).then(function (point) {
        streetPoint = point;
      });
      Daofu.api("/api/regions", { parent: street.value, level: "community", limit: 500 }).then(function (list) {
        fill(community, "选择社区(村)", list.regions);
      });
    });

    community.addEventListener("change", function () {
      if (!community.value) return;
      startAt(community.value, "community", selectedName(community), streetPoint);
    });

    return {
      setStart: setStart,
      loadDistricts: function (cityCode) {
        reset(district, "选择区县");
        reset(street, "选择街道(镇)");
        reset(community, "选择社区(村)");
        return Daofu.api("/api/regions/" + encodeURIComponent(cityCode)).then(function (detail) {
          fill(
            district,
            "选择区县",
            detail.children.filter(function (c) {
              return c.level === "district";
            })
          );
        });
      },
    };
  };
})(window);

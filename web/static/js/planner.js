/* The citizen trip planner (/): an item or a bundle, a start, a mode and a time →
   the halls that handle it, open or closed on arrival, with the route and its steps. */
(function () {
  "use strict";
  var el = Daofu.el;
  var fmt = Daofu.fmt;
  var cfg = Daofu.config();
  var page = cfg.page || {};

  var form = document.getElementById("plan-form");
  var citySelect = document.getElementById("city");
  var input = document.getElementById("item-input");
  var suggestions = document.getElementById("item-suggestions");
  var itemNote = document.getElementById("item-note");
  var bundleSelect = document.getElementById("bundle");
  var depart = document.getElementById("depart");
  var messages = document.getElementById("messages");
  var resultsPanel = document.getElementById("results-panel");
  var resultsTitle = document.getElementById("results-title");
  var results = document.getElementById("results");
  var leftOut = document.getElementById("left-out");
  var routePanel = document.getElementById("route-panel");
  var routeSummary = document.getElementById("route-summary");
  var steps = document.getElementById("steps");

  var ctx = Daofu.createMap("map", cfg);
  var resultLayer = L.layerGroup().addTo(ctx.map);
  var viewLayer = L.layerGroup().addTo(ctx.map);
  var state = { start: null, item: null, city: null, busy: false };

  var picker = Daofu.startPicker(ctx, {
    messages: messages,
    onStart: function (lonlat) {
      state.start = lonlat;
    },
  });

  function mode() {
    return form.querySelector("input[name=mode]:checked").value;
  }

  function clearMessages() {
    messages.replaceChildren();
  }

  function showError(error) {
    Daofu.showError(messages, error);
    reveal(messages);
  }

  /* On a phone the map and the answers are below the form: bring them into view. */
  function reveal(node) {
    if (window.innerWidth < 900 && node.scrollIntoView) node.scrollIntoView({ block: "start" });
  }

  /* ---- city ---- */
  (cfg.cities || []).forEach(function (city) {
    citySelect.appendChild(Daofu.option(city.code, city.name + (city.network ? "（可规划路线）" : "")));
  });

  var cityNote = document.getElementById("city-note");
  function chooseCity(code, fit) {
    var city = cfg.cities.filter(function (c) {
      return c.code === code;
    })[0];
    state.city = code;
    citySelect.value = code;
    cityNote.textContent =
      city && city.network
        ? "地图上虚线框内已导入道路，可按路线计算用时。"
        : "本市尚未导入路网：结果按直线距离排序并标为估算，不给出用时。";
    ctx.showCity(code, fit);
    picker.loadDistricts(code);
  }
  citySelect.addEventListener("change", function () {
    chooseCity(citySelect.value, true);
  });

  /* ---- item search with suggestions ---- */
  var timer = null;
  var sequence = 0;
  var options = [];
  var active = -1;

  function hideSuggestions() {
    suggestions.hidden = true;
    suggestions.replaceChildren();
    input.setAttribute("aria-expanded", "false");
    options = [];
    active = -1;
  }

  function chooseItem(hit) {
    state.item = { code: hit.code, name: hit.name };
    input.value = hit.name;
    itemNote.textContent = "已选：" + hit.name + "（" + hit.department + "）";
    bundleSelect.value = "";
    hideSuggestions();
  }

  function renderSuggestions(answer) {
    suggestions.replaceChildren();
    var hits = answer.nothing_fits ? answer.suggestions : answer.hits;
    if (answer.nothing_fits && answer.message) {
      suggestions.appendChild(el("li", { class: "suggestion-note", text: answer.message }));
    }
    options = hits;
    hits.forEach(function (hit, i) {
      suggestions.appendChild(
        el(
          "li",
          {
            role: "option",
            id: "item-option-" + i,
            class: "suggestion",
            "data-code": hit.code,
            on: {
              mousedown: function (event) {
                event.preventDefault();
                chooseItem(hit);
              },
            },
          },
          [el("span", { class: "name", text: hit.name }), el("small", { text: hit.department })]
        )
      );
    });
    suggestions.hidden = suggestions.childElementCount === 0;
    input.setAttribute("aria-expanded", suggestions.hidden ? "false" : "true");
    active = -1;
  }

  function suggest(query) {
    var mine = ++sequence;
    Daofu.api("/api/items/search", { q: query, limit: 8 })
      .then(function (answer) {
        if (mine === sequence && input.value.trim() === query) renderSuggestions(answer);
      })
      .catch(function () {
        if (mine === sequence) hideSuggestions();
      });
  }

  input.addEventListener("input", function () {
    state.item = null;
    itemNote.textContent = "";
    clearTimeout(timer);
    var query = input.value.trim();
    if (!query) {
      hideSuggestions();
      return;
    }
    timer = setTimeout(function () {
      suggest(query);
    }, 200);
  });

  input.addEventListener("keydown", function (event) {
    if (suggestions.hidden || !options.length) return;
    var items = suggestions.querySelectorAll("li.suggestion");
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      active = (active + (event.key === "ArrowDown" ? 1 : -1) + options.length) % options.length;
      items.forEach(function (item, i) {
        item.setAttribute("aria-selected", i === active ? "true" : "false");
      });
      input.setAttribute("aria-activedescendant", "item-option-" + active);
    } else if (event.key === "Enter" && active >= 0) {
      event.preventDefault();
      chooseItem(options[active]);
    } else if (event.key === "Escape") {
      hideSuggestions();
    }
  });
  input.addEventListener("blur", function () {
    setTimeout(hideSuggestions, 150);
  });

  /* ---- bundles ---- */
  Daofu.api("/api/bundles")
    .then(function (bundles) {
      bundles.forEach(function (bundle) {
        bundleSelect.appendChild(
          Daofu.option(bundle.code, bundle.name + (bundle.sample_content ? "（示例内容）" : ""))
        );
      });
    })
    .catch(function () {});

  /* ---- sites in view: pick one on the map ---- */
  var viewKey = "";
  function loadSitesInView() {
    if (ctx.map.getSize().x < 10 || ctx.map.getSize().y < 10) return;
    if (ctx.map.getZoom() < 14) {
      viewLayer.clearLayers();
      viewKey = "";
      return;
    }
    var b = ctx.map.getBounds();
    var sw = ctx.toLonLat(b.getSouthWest());
    var ne = ctx.toLonLat(b.getNorthEast());
    var bbox = [sw[0], sw[1], ne[0], ne[1]]
      .map(function (v) {
        return v.toFixed(4);
      })
      .join(",");
    if (bbox === viewKey) return;
    viewKey = bbox;
    Daofu.api("/api/sites", { bbox: bbox, limit: 300 })
      .then(function (collection) {
        viewLayer.clearLayers();
        collection.features.forEach(function (feature) {
          ctx.siteMarker(feature, { onRoute: routeToSite }).addTo(viewLayer);
        });
      })
      .catch(function () {
        viewKey = "";
      });
  }
  ctx.map.on("moveend", loadSitesInView);

  /* ---- routes ---- */
  function showRoute(route, title) {
    ctx.drawRoute(route, { fit: true });
    routePanel.hidden = false;
    routeSummary.textContent =
      title +
      "：" +
      (route.properties.mode === "drive" ? "驾车" : "步行") +
      "约" +
      fmt.duration(route.properties.duration_s) +
      "（" +
      fmt.distance(route.properties.distance_m) +
      "）";
    Daofu.renderSteps(steps, route);
  }

  function routeToSite(feature) {
    clearMessages();
    if (!state.start) {
      Daofu.message(messages, "请先设置出发点：点击地图、使用我的位置或选择街道。", "error");
      reveal(messages);
      return;
    }
    ctx.map.closePopup();
    Daofu.api("/api/directions-text", { site: feature.id, from: state.start.join(","), mode: mode() })
      .then(function (answer) {
        if (answer.route) {
          showRoute(answer.route, "到" + feature.properties.name);
        } else {
          ctx.clearRoutes();
          routePanel.hidden = false;
          steps.replaceChildren();
          routeSummary.textContent = answer.text;
        }
      })
      .catch(showError);
  }

  /* ---- matching ---- */
  function statusLine(r) {
    if (r.estimate) {
      var now = r.open_now === true ? "现在营业" : r.open_now === false ? "现在休息" : "";
      return el("p", { class: "status " + (r.open_now ? "open" : "closed"), text: [now, r.hours_today ? "今天 " + r.hours_today : ""].filter(Boolean).join("，") });
    }
    if (r.open_on_arrival) {
      return el("p", { class: "status open", text: "到达时营业中" + (r.closes_at ? "，" + fmt.clock(r.closes_at, r.arrive_at) + " 结束" : "") });
    }
    var text = "到达时未开门";
    if (r.opens_at) text += "，" + fmt.clock(r.opens_at, r.arrive_at) + " 开门";
    if (r.wait_s > 0) text += "（需等约" + fmt.duration(r.wait_s) + "）";
    return el("p", { class: "status closed", text: text });
  }

  function travelLine(r, answer) {
    if (r.estimate) {
      return el("p", { class: "travel estimate", text: "直线距离约" + fmt.distance(r.distance_m) + "（估算：该地尚无路网，无法计算用时）" });
    }
    var verb = answer.mode === "drive" ? "驾车" : "步行";
    return el("p", {
      class: "travel",
      text: verb + "约" + fmt.duration(r.duration_s) + "（" + fmt.distance(r.distance_m) + "），" + fmt.clock(r.arrive_at, answer.depart_at) + " 到达",
    });
  }

  function renderMatch(answer) {
    resultsPanel.hidden = false;
    resultsTitle.textContent = "可办理“" + answer.item.name + "”的地点" + (answer.item.sample_content ? "（办事指南为示例内容）" : "");
    if (!answer.routed) {
      Daofu.message(messages, "此处暂无道路数据：以下结果按直线距离排序，仅供参考，不含行程时间。", "warning");
      if (answer.reason) {
        messages.appendChild(
          el("details", { class: "hint" }, [el("summary", { text: "说明 Details" }), el("p", { text: answer.reason })])
        );
      }
    }
    (answer.warnings || []).forEach(function (w) {
      Daofu.message(messages, w, "warning");
    });
    if (answer.alternatives && answer.alternatives.length) {
      var alternatives = el("p", { class: "message info" }, ["您要办的也可能是："]);
      answer.alternatives.forEach(function (alt) {
        alternatives.appendChild(
          el("button", {
            type: "button",
            class: "link",
            text: alt.name,
            on: {
              click: function () {
                chooseItem({ code: alt.code, name: alt.name, department: alt.department });
                form.requestSubmit();
              },
            },
          })
        );
      });
      messages.appendChild(alternatives);
    }
    if (!answer.results.length) Daofu.message(messages, "附近没有找到可办理且在时限内到达的场所。", "warning");

    var bounds = L.latLngBounds([ctx.toLatLng(state.start)]);
    answer.results.forEach(function (r, i) {
      var feature = r.site;
      var number = i + 1;
      var extra = [statusLine(r), travelLine(r, answer)];
      if (r.window) extra.push(el("p", { class: "window", text: "窗口：" + r.window }));
      var marker = ctx.siteMarker(feature, {
        number: number,
        extra: [statusLine(r), travelLine(r, answer)],
        onRoute: r.route
          ? function () {
              ctx.map.closePopup();
              showRoute(r.route, "到" + feature.properties.name);
            }
          : null,
      }).addTo(resultLayer);
      marker.on("click", function () {
        if (r.route) showRoute(r.route, "到" + feature.properties.name);
      });
      bounds.extend(ctx.toLatLng(feature.geometry.coordinates));
      var card = Daofu.siteCard(feature, {
        extra: extra,
        onRoute: r.route
          ? function () {
              showRoute(r.route, "到" + feature.properties.name);
            }
          : null,
      });
      results.appendChild(el("li", { class: "result", "data-site-id": feature.id }, [el("span", { class: "number", text: String(number) }), card]));
    });
    if (answer.results.length) ctx.map.fitBounds(bounds, { padding: [30, 30], maxZoom: 16 });
    var first = answer.results[0];
    if (first && first.route) showRoute(first.route, "到" + first.site.properties.name);

    var list = leftOut.querySelector("ul");
    list.replaceChildren();
    (answer.left_out || []).forEach(function (e) {
      list.appendChild(el("li", { text: e.name + "（" + fmt.distance(e.distance_m) + "）：" + e.detail }));
    });
    leftOut.hidden = !list.childElementCount;
  }

  /* ---- bundles: the itinerary ---- */
  var LEG_COLOURS = ["#1565c0", "#6a1b9a", "#00838f", "#ef6c00", "#2e7d32", "#ad1457"];
  function renderItinerary(plan) {
    resultsPanel.hidden = false;
    resultsTitle.textContent = "一件事：" + plan.name;
    Daofu.message(
      messages,
      "预计 " + fmt.clock(plan.finish_at, plan.depart_at) + " 全部办完：路上约" + fmt.duration(plan.travel_s) + (plan.wait_s > 0 ? "，等候约" + fmt.duration(plan.wait_s) : ""),
      "info"
    );
    (plan.warnings || []).forEach(function (w) {
      Daofu.message(messages, w, "warning");
    });
    ctx.clearRoutes();
    var bounds = L.latLngBounds([ctx.toLatLng(state.start)]);
    plan.legs.forEach(function (leg, i) {
      var feature = leg.site;
      var colour = LEG_COLOURS[i % LEG_COLOURS.length];
      if (leg.route) ctx.drawRoute(leg.route, { keep: true, colour: colour });
      var extra = [
        el("p", { class: "bundle-item", text: "办理：" + leg.item.name }),
        el("p", {
          class: "travel",
          text: "路上约" + fmt.duration(leg.travel_s) + "，" + fmt.clock(leg.arrive_at, plan.depart_at) + " 到达，" + fmt.clock(leg.start_at, plan.depart_at) + "–" + fmt.clock(leg.finish_at, plan.depart_at) + " 办理",
        }),
      ];
      ctx.siteMarker(feature, { number: i + 1, extra: extra }).addTo(resultLayer);
      bounds.extend(ctx.toLatLng(feature.geometry.coordinates));
      var card = Daofu.siteCard(feature, {
        extra: extra,
        onRoute: leg.route
          ? function () {
              showRoute(leg.route, "第" + (i + 1) + "站 " + feature.properties.name);
            }
          : null,
      });
      results.appendChild(el("li", { class: "result", "data-site-id": feature.id }, [el("span", { class: "number", text: String(i + 1) }), card]));
    });
    ctx.map.fitBounds(bounds, { padding: [30, 30], maxZoom: 16 });
    if (plan.legs.length && plan.legs[0].route) {
      routePanel.hidden = false;
      routeSummary.textContent = "第1站 " + plan.legs[0].site.properties.name + "：约" + fmt.duration(plan.legs[0].travel_s);
      Daofu.renderSteps(steps, plan.legs[0].route);
    }
  }

  /* ---- the search ---- */
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    clearMessages();
    var bundle = bundleSelect.value;
    var item = state.item ? state.item.code : input.value.trim();
    if (!bundle && !item) {
      Daofu.message(messages, "请输入要办的事项，或选择一件事。", "error");
      input.focus();
      return;
    }
    if (!state.start) {
      Daofu.message(messages, "请先设置出发点：点击地图、使用我的位置或选择区县/街道。", "error");
      reveal(document.querySelector(".map-wrap"));
      return;
    }
    hideSuggestions();
    results.replaceChildren();
    resultLayer.clearLayers();
    ctx.clearRoutes();
    routePanel.hidden = true;
    resultsPanel.hidden = true;
    var params = { from: state.start.join(","), mode: mode(), at: depart.value || null };
    var button = document.getElementById("plan");
    button.disabled = true;
    Daofu.message(messages, bundle ? "正在安排一件事的行程……" : "正在查找办理地点……", "info loading");
    var request = bundle
      ? Daofu.api("/api/bundles/" + encodeURIComponent(bundle) + "/itinerary", params).then(renderItinerary)
      : Daofu.api("/api/match", Object.assign({ item: item }, params)).then(renderMatch);
    request = request.then(function () {
      reveal(document.querySelector(".map-wrap"));
    });
    request = request.finally(function () {
      var loading = messages.querySelector(".loading");
      if (loading) loading.remove();
    });
    request.catch(showError).then(function () {
      button.disabled = false;
    });
  });

  bundleSelect.addEventListener("change", function () {
    if (bundleSelect.value) {
      state.item = null;
      input.value = "";
      itemNote.textContent = "";
    }
  });

  /* ---- start-up ---- */
  depart.value = Daofu.beijingNow();
  if (page.mode) {
    var radio = form.querySelector("input[name=mode][value=" + page.mode + "]");
    if (radio) radio.checked = true;
  }
  var firstCity = page.city && cfg.cities.some(function (c) { return c.code === page.city; }) ? page.city : cfg.default_city;
  chooseCity(firstCity, true);
  if (page.from) {
    var parts = page.from.split(",").map(Number);
    if (parts.length === 2 && parts.every(isFinite)) {
      picker.setStart(parts, "链接中的位置（" + parts[0].toFixed(5) + ", " + parts[1].toFixed(5) + "）");
    }
  }
  if (page.item) {
    input.value = page.item;
  }
  if (page.item && /^[0-9A-Z][0-9A-Za-z-]{5,}$/.test(page.item)) {
    // an item code (free text stays in the box and is matched as typed)
    Daofu.api("/api/items/" + encodeURIComponent(page.item))
      .then(chooseItem)
      .catch(function () {});
  }
  loadSitesInView();

  Daofu.planner = { ctx: ctx, state: state, setStart: picker.setStart };
})();

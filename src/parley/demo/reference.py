"""Fixed reference data the demo generator draws from: sales regions and their geography,
stores, people's names, and the product range. Plain tuples, so the generator stays readable."""

from __future__ import annotations

from dataclasses import dataclass

# (region_id, name, code)
REGIONS = ((1, "DACH", "DACH"), (2, "North America", "NA"), (3, "UK & Ireland", "UKI"))


@dataclass(frozen=True)
class State:
    country: str
    name: str
    region_id: int
    weight: float  # share of customers
    cities: tuple[str, ...]
    names: str  # the name pool its people are drawn from: de, en or fr


STATES = (
    State("Germany", "Bavaria", 1, 7.0, ("Munich", "Nuremberg", "Augsburg"), "de"),
    State("Germany", "Berlin", 1, 4.5, ("Berlin",), "de"),
    State("Germany", "Hamburg", 1, 2.5, ("Hamburg",), "de"),
    State("Germany", "Hesse", 1, 3.0, ("Frankfurt", "Wiesbaden"), "de"),
    State("Germany", "North Rhine-Westphalia", 1, 6.0, ("Cologne", "Düsseldorf", "Dortmund"), "de"),
    State("Germany", "Baden-Württemberg", 1, 4.5, ("Stuttgart", "Freiburg"), "de"),
    State("Germany", "Saxony", 1, 2.0, ("Leipzig", "Dresden"), "de"),
    State("Austria", "Vienna", 1, 2.5, ("Vienna",), "de"),
    State("Austria", "Tyrol", 1, 1.2, ("Innsbruck",), "de"),
    State("Austria", "Salzburg", 1, 0.8, ("Salzburg",), "de"),
    State("Switzerland", "Zurich", 1, 2.2, ("Zurich", "Winterthur"), "de"),
    State("Switzerland", "Geneva", 1, 1.0, ("Geneva",), "fr"),
    State("Switzerland", "Bern", 1, 0.9, ("Bern",), "de"),
    State(
        "United States", "California", 2, 8.0, ("San Francisco", "Los Angeles", "San Diego"), "en"
    ),
    State("United States", "New York", 2, 5.5, ("New York", "Buffalo"), "en"),
    State("United States", "Texas", 2, 4.5, ("Austin", "Houston", "Dallas"), "en"),
    State("United States", "Washington", 2, 3.0, ("Seattle", "Spokane"), "en"),
    State("United States", "Colorado", 2, 2.5, ("Denver", "Boulder"), "en"),
    State("United States", "Illinois", 2, 2.5, ("Chicago",), "en"),
    State("United States", "Massachusetts", 2, 2.0, ("Boston",), "en"),
    State("Canada", "Ontario", 2, 4.0, ("Toronto", "Ottawa"), "en"),
    State("Canada", "Quebec", 2, 2.5, ("Montreal", "Quebec City"), "fr"),
    State("Canada", "British Columbia", 2, 2.5, ("Vancouver", "Victoria"), "en"),
    State("Canada", "Alberta", 2, 1.5, ("Calgary", "Edmonton"), "en"),
    State("United Kingdom", "England", 3, 8.0, ("London", "Manchester", "Bristol"), "en"),
    State("United Kingdom", "Scotland", 3, 2.0, ("Edinburgh", "Glasgow"), "en"),
    State("United Kingdom", "Wales", 3, 1.0, ("Cardiff",), "en"),
    State("Ireland", "Leinster", 3, 1.6, ("Dublin",), "en"),
    State("Ireland", "Munster", 3, 0.8, ("Cork",), "en"),
)

# (name, city, state, opened on); store ids follow this order
STORES = (
    ("Munich Flagship", "Munich", "Bavaria", "2018-04-14"),
    ("Berlin Mitte", "Berlin", "Berlin", "2019-03-02"),
    ("Hamburg Hafen", "Hamburg", "Hamburg", "2020-09-19"),
    ("Frankfurt Zeil", "Frankfurt", "Hesse", "2021-05-08"),
    ("Cologne Dom", "Cologne", "North Rhine-Westphalia", "2019-10-12"),
    ("Vienna Ring", "Vienna", "Vienna", "2020-03-07"),
    ("Zurich Bahnhofstrasse", "Zurich", "Zurich", "2021-11-20"),
    ("Stuttgart Koenigstrasse", "Stuttgart", "Baden-Württemberg", "2023-09-16"),
    ("New York SoHo", "New York", "New York", "2019-06-01"),
    ("San Francisco Union Square", "San Francisco", "California", "2018-08-25"),
    ("Seattle Pike Place", "Seattle", "Washington", "2020-05-16"),
    ("Denver Larimer", "Denver", "Colorado", "2023-05-06"),
    ("Toronto Queen West", "Toronto", "Ontario", "2019-09-14"),
    ("Vancouver Gastown", "Vancouver", "British Columbia", "2021-04-24"),
    ("London Covent Garden", "London", "England", "2018-11-03"),
    ("Manchester Northern Quarter", "Manchester", "England", "2024-03-16"),
    ("Dublin Grafton Street", "Dublin", "Leinster", "2022-06-11"),
)

FIRST_NAMES = {
    "de": (
        "Anna", "Lukas", "Sophie", "Jonas", "Marie", "Felix", "Lena", "Maximilian", "Laura",
        "Paul", "Julia", "Leon", "Hannah", "Tobias", "Katharina", "Florian", "Sarah", "Niklas",
        "Lea", "Sebastian", "Johanna", "Moritz", "Clara", "David", "Emilia", "Jan", "Theresa",
        "Matthias", "Franziska", "Stefan",
    ),
    "en": (
        "Emma", "Liam", "Olivia", "Noah", "Ava", "James", "Isabella", "William", "Mia",
        "Benjamin", "Charlotte", "Lucas", "Amelia", "Henry", "Harper", "Alexander", "Evelyn",
        "Daniel", "Abigail", "Michael", "Emily", "Ethan", "Grace", "Jacob", "Chloe", "Samuel",
        "Lily", "Jack", "Zoe", "Ryan",
    ),
    "fr": (
        "Camille", "Louis", "Chloé", "Gabriel", "Léa", "Hugo", "Manon", "Arthur", "Inès",
        "Jules", "Juliette", "Raphaël", "Alice", "Nathan", "Élise", "Thomas", "Margaux",
        "Antoine", "Zoé", "Mathis",
    ),
}  # fmt: skip

LAST_NAMES = {
    "de": (
        "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
        "Schulz", "Hoffmann", "Koch", "Richter", "Bauer", "Klein", "Wolf", "Schröder",
        "Neumann", "Schwarz", "Zimmermann", "Braun", "Hofmann", "Hartmann", "Lange", "Krüger",
        "Huber", "Gruber", "Steiner", "Keller", "Brunner", "Baumann",
    ),
    "en": (
        "Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson",
        "Anderson", "Taylor", "Thomas", "Moore", "Martin", "Jackson", "Thompson", "White",
        "Harris", "Clark", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
        "Scott", "Green", "Baker", "Murphy", "Kelly",
    ),
    "fr": (
        "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand",
        "Leroy", "Moreau", "Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "Tremblay",
        "Gagnon", "Roy", "Côté", "Bouchard",
    ),
}  # fmt: skip

COMPANY_WORDS = (
    "Alpine", "Summit", "Northern", "Harbor", "Cedar", "Granite", "Maple", "River", "Lakeside",
    "Pioneer", "Evergreen", "Bright", "Atlas", "Meridian", "Falcon", "Orchard", "Silver",
    "Horizon", "Beacon", "Crescent",
)  # fmt: skip
COMPANY_KINDS = (
    "Outfitters", "Adventures", "Events", "Schools", "Tours", "Logistics", "Consulting",
    "Sports Club", "Hotels", "Expeditions",
)  # fmt: skip


@dataclass(frozen=True)
class Subcategory:
    category: str
    name: str
    noun: str  # what one product of it is called
    price: tuple[float, float]  # list price range, EUR
    popularity: float


# Seasonal demand per category, January to December (1.0 = average).
CATEGORY_SEASON = {
    "Camping": (0.5, 0.5, 0.8, 1.1, 1.4, 1.6, 1.6, 1.3, 0.9, 0.6, 0.8, 1.0),
    "Hiking": (0.6, 0.6, 0.9, 1.2, 1.3, 1.3, 1.3, 1.2, 1.1, 0.9, 0.8, 1.0),
    "Cycling": (0.4, 0.5, 1.0, 1.5, 1.6, 1.5, 1.3, 1.1, 0.9, 0.6, 0.6, 0.9),
    "Apparel": (1.2, 1.0, 0.9, 0.8, 0.7, 0.6, 0.6, 0.7, 1.0, 1.3, 1.6, 1.8),
    "Water Sports": (0.2, 0.2, 0.4, 0.8, 1.4, 2.0, 2.2, 1.8, 0.9, 0.4, 0.3, 0.5),
}

SUBCATEGORIES = (
    Subcategory("Camping", "Tents", "Tent", (149.0, 649.0), 1.2),
    Subcategory("Camping", "Sleeping Bags", "Sleeping Bag", (59.0, 329.0), 1.0),
    Subcategory("Camping", "Camp Kitchen", "Stove", (24.0, 149.0), 0.9),
    Subcategory("Hiking", "Backpacks", "Backpack", (49.0, 279.0), 1.4),
    Subcategory("Hiking", "Footwear", "Hiking Boot", (89.0, 259.0), 1.6),
    Subcategory("Hiking", "Trekking Poles", "Trekking Poles", (29.0, 129.0), 0.6),
    Subcategory("Cycling", "Bikes", "Bike", (549.0, 2899.0), 0.5),
    Subcategory("Cycling", "Helmets", "Helmet", (39.0, 199.0), 1.0),
    Subcategory("Cycling", "Bike Accessories", "Bike Light", (9.0, 89.0), 1.3),
    Subcategory("Apparel", "Jackets", "Jacket", (89.0, 449.0), 1.5),
    Subcategory("Apparel", "Base Layers", "Base Layer", (29.0, 119.0), 1.3),
    Subcategory("Apparel", "Hats & Gloves", "Beanie", (15.0, 69.0), 1.1),
    Subcategory("Water Sports", "Kayaks", "Kayak", (399.0, 1599.0), 0.4),
    Subcategory("Water Sports", "Paddles", "Paddle", (49.0, 249.0), 0.5),
    Subcategory("Water Sports", "Wetsuits", "Wetsuit", (99.0, 399.0), 0.6),
)

BRANDS = ("Nordwand", "TrailCo", "Summitline", "Riverline", "Peakform", "Cascade")
MODELS = (
    "Ridge", "Glacier", "Ember", "Tundra", "Vista", "Canyon", "Aurora", "Basalt", "Drift",
    "Falcon", "Horizon", "Juniper", "Krest", "Lynx", "Meridian", "Nimbus", "Orbit", "Pinnacle",
)  # fmt: skip

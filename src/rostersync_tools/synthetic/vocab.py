"""The proportions and vocabularies synthetic districts are drawn from."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

# Bump when the output for a given seed changes, so cached data sets (bench/data) are rebuilt.
GENERATOR_VERSION = 2

Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

# ---------------------------------------------------------------------------------------------
# Proportions (SPEC "Scale": ~600k students, ~1.2M contacts, ~35k teachers, ~150k sections,
# ~6M enrollments; ~1 school per 1,500 students; ~2k staff).
STUDENTS_PER_SCHOOL = 1500
STUDENTS_PER_TEACHER = 600_000 / 35_000
STUDENTS_PER_STAFF = 300
ENROLLMENTS_PER_STUDENT = 10
SEATS_PER_SECTION = 40  # 6M enrollments / 150k sections
SIBLING_RATE = 0.15  # students who share the contacts of a sibling in the same school

# Contacts per student (0-4, mean 1.98) and, by the contact's position, its type and relationship.
CONTACT_COUNT_WEIGHTS = (0.08, 0.22, 0.42, 0.20, 0.08)
CONTACT_TYPE_VALUES = ("Primary", "Secondary", "Parent/Guardian", "Emergency", "Family", "Other")
CONTACT_TYPE_WEIGHTS = (
    (0.55, 0.03, 0.35, 0.02, 0.03, 0.02),
    (0.10, 0.35, 0.35, 0.10, 0.07, 0.03),
    (0.02, 0.18, 0.10, 0.50, 0.12, 0.08),
    (0.01, 0.10, 0.05, 0.60, 0.14, 0.10),
)
RELATIONSHIP_VALUES = ("Parent", "Grandparent", "Aunt/Uncle", "Sibling", "Other")
RELATIONSHIP_WEIGHTS = (
    (0.92, 0.04, 0.01, 0.00, 0.03),
    (0.80, 0.10, 0.04, 0.01, 0.05),
    (0.15, 0.40, 0.22, 0.08, 0.15),
    (0.15, 0.40, 0.22, 0.08, 0.15),
)
PHONE_TYPES = ("Cell", "Home", "Work")
PHONE_TYPE_WEIGHTS = (0.75, 0.18, 0.07)

# Grade levels -1 (pre-K) .. 12; index = level + 1.
SEXES = ("female", "male", "other")  # canonical; Clever files spell them F, M, X
GRADE_CODES = ("PK", "KG", "01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12")
CLEVER_GRADES = ("PreKindergarten", "Kindergarten", *(str(g) for g in range(1, 13)))
GRADE_LABELS = ("Pre-K", "Kindergarten", *(f"Grade {g}" for g in range(1, 13)))

# School kinds: name suffix, lowest and highest grade level, share of schools. Sizes follow from
# the grades a school covers (a high school ends up about twice an elementary school).
SCHOOL_KINDS = (
    ("Elementary School", 0, 5, 0.52),
    ("Middle School", 6, 8, 0.20),
    ("High School", 9, 12, 0.20),
    ("Academy", 0, 8, 0.08),
    ("School", 0, 12, 0.0),  # K-12, only for districts with fewer than 4 schools
)

# Clever's subject vocabulary (also valid free text for OneRoster), course title stem and code.
SUBJECTS = (
    ("English/Language Arts", "English Language Arts", "ELA", 0.20),
    ("Math", "Mathematics", "MATH", 0.20),
    ("Science", "Science", "SCI", 0.15),
    ("Social Studies", "Social Studies", "SS", 0.13),
    ("Language", "Spanish", "LANG", 0.07),
    ("PE and health", "Physical Education", "PE", 0.08),
    ("Arts and music", "Art and Music", "ART", 0.08),
    ("Technology and engineering", "Computer Science", "TECH", 0.04),
    ("Homeroom/advisory", "Homeroom", "HR", 0.05),
)
TERM_KINDS = (("schoolYear", 0.5), ("semester", 0.25), ("semester", 0.25))  # year, S1, S2

STAFF_TITLES = (
    ("Assistant Principal", "Administration", 0.15),
    ("Counselor", "Counseling", 0.20),
    ("Secretary", "Office", 0.20),
    ("Nurse", "Health", 0.10),
    ("Librarian", "Library", 0.10),
    ("Instructional Coach", "Instruction", 0.15),
    ("Registrar", "Office", 0.10),
)
RACES = (
    ("Caucasian", 0.45),
    ("Black or African American", 0.15),
    ("Asian", 0.06),
    ("American Indian", 0.01),
    ("Hawaiian or Other Pacific Islander", 0.01),
    ("Two or More Races", 0.07),
    ("Unknown", 0.25),
)
# fmt: off
HOME_LANGUAGES = (("English", 0.76), ("Spanish", 0.17), ("Vietnamese", 0.02), ("Chinese", 0.02),
                  ("Arabic", 0.015), ("Tagalog", 0.015))
FRL = (("Paid", 0.5), ("Free", 0.4), ("Reduced", 0.1))

FEMALE_NAMES = (
    "Olivia", "Emma", "Charlotte", "Amelia", "Sophia", "Mia", "Isabella", "Ava", "Evelyn", "Luna",
    "Harper", "Sofia", "Camila", "Eleanor", "Elizabeth", "Violet", "Scarlett", "Emily", "Hazel",
    "Lily", "Gianna", "Aurora", "Penelope", "Aria", "Nora", "Chloe", "Ellie", "Mila", "Avery",
    "Layla", "Abigail", "Ella", "Isla", "Eliana", "Nova", "Madison", "Zoe", "Ivy", "Grace",
    "Lucy", "Willow", "Emilia", "Riley", "Naomi", "Victoria", "Stella", "Elena", "Hannah",
    "Valentina", "Maya", "Zoey", "Delilah", "Leah", "Lainey", "Lillian", "Paisley", "Genesis",
    "Madelyn", "Sadie", "Sophie", "Leilani", "Addison", "Natalie", "Josephine", "Alice", "Ruby",
    "Claire", "Kinsley", "Everly", "Emery", "Adeline", "Kennedy", "Maeve", "Audrey", "Autumn",
    "Athena", "Eden", "Iris", "Anna", "Eloise", "Jade", "Maria", "Caroline", "Brooklyn", "Quinn",
    "Aaliyah", "Vivian", "Liliana", "Gabriella", "Hailey", "Sarah", "Savannah", "Cora", "Madeline",
    "Jasmine", "Ximena", "Guadalupe", "Fatima", "Mariana", "Priya", "Mei", "Aisha", "Linh",
    "Ngozi", "Yesenia", "Keisha", "Tamika", "Shanice", "Rosa", "Carmen", "Lucia", "Ana", "Nadia",
)
MALE_NAMES = (
    "Liam", "Noah", "Oliver", "James", "Elijah", "Mateo", "Theodore", "Henry", "Lucas", "William",
    "Benjamin", "Levi", "Sebastian", "Jack", "Ezra", "Michael", "Daniel", "Leo", "Owen", "Samuel",
    "Hudson", "Alexander", "Asher", "Luca", "Ethan", "John", "David", "Jackson", "Joseph", "Mason",
    "Luke", "Matthew", "Julian", "Dylan", "Elias", "Jacob", "Maverick", "Gabriel", "Logan",
    "Aiden", "Thomas", "Isaac", "Miles", "Grayson", "Santiago", "Anthony", "Wyatt", "Carter",
    "Jayden", "Ezekiel", "Caleb", "Cooper", "Josiah", "Charles", "Christopher", "Isaiah", "Nolan",
    "Cameron", "Nathan", "Joshua", "Kai", "Waylon", "Angel", "Lincoln", "Andrew", "Roman",
    "Adrian", "Aaron", "Wesley", "Ian", "Thiago", "Axel", "Brooks", "Bennett", "Weston", "Rowan",
    "Christian", "Theo", "Beau", "Eli", "Silas", "Jonathan", "Ryan", "Leonardo", "Walker",
    "Jaxon", "Micah", "Everett", "Robert", "Enzo", "Parker", "Jeremiah", "Jose", "Colton", "Luis",
    "Carlos", "Juan", "Miguel", "Diego", "Jesus", "Rahul", "Wei", "Omar", "Minh", "Kwame",
    "DeShawn", "Tyrone", "Malik", "Andre", "Marcus", "Hiroshi", "Dmitri", "Ahmed", "Tariq",
)
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall",
    "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Gomez", "Phillips", "Evans", "Turner",
    "Diaz", "Parker", "Cruz", "Edwards", "Collins", "Reyes", "Stewart", "Morris", "Morales",
    "Murphy", "Cook", "Rogers", "Gutierrez", "Ortiz", "Morgan", "Cooper", "Peterson", "Bailey",
    "Reed", "Kelly", "Howard", "Ramos", "Kim", "Cox", "Ward", "Richardson", "Watson", "Brooks",
    "Chavez", "Wood", "James", "Bennett", "Gray", "Mendoza", "Ruiz", "Hughes", "Price", "Alvarez",
    "Castillo", "Sanders", "Patel", "Myers", "Long", "Ross", "Foster", "Jimenez", "Powell",
    "Jenkins", "Perry", "Russell", "Sullivan", "Bell", "Coleman", "Butler", "Henderson", "Barnes",
    "Gonzales", "Fisher", "Vasquez", "Simmons", "Romero", "Jordan", "Patterson", "Alexander",
    "Hamilton", "Graham", "Reynolds", "Griffin", "Wallace", "Moreno", "West", "Cole", "Hayes",
    "Bryant", "Herrera", "Gibson", "Ellis", "Tran", "Medina", "Aguilar", "Stevens", "Murray",
    "Ford", "Castro", "Marshall", "Owens", "Harrison", "Fernandez", "McDonald", "Woods",
    "Washington", "Kennedy", "Wells", "Vargas", "Henry", "Chen", "Freeman", "Webb", "Tucker",
    "Guzman", "Burns", "Crawford", "Olson", "Simpson", "Porter", "Hunter", "Gordon", "Mendez",
    "Silva", "Shaw", "Snyder", "Mason", "Dixon", "Munoz", "Hunt", "Hicks", "Holmes", "Palmer",
    "Wagner", "Black", "Robertson", "Boyd", "Rose", "Stone", "Salazar", "Fox", "Warren", "Mills",
    "Meyer", "Rice", "Schmidt", "Garza", "Daniels", "Ferguson", "Nichols", "Stephens", "Soto",
    "Weaver", "Ryan", "Gardner", "Payne", "Grant", "Dunn", "Kelley", "Spencer", "Hawkins",
    "O'Brien", "O'Connor", "Smith-Jones", "De La Cruz", "Van Dyke", "Okafor", "Nakamura", "Singh",
)
NAMESAKES = (
    "Lincoln", "Washington", "Jefferson", "Roosevelt", "Franklin", "Kennedy", "Madison", "Adams",
    "Monroe", "Jackson", "Hamilton", "Douglass", "Tubman", "King", "Parks", "Carver", "Edison",
    "Whitman", "Twain", "Emerson", "Thoreau", "Frost", "Hughes", "Angelou", "Keller", "Earhart",
    "Armstrong", "Ride", "Curie", "Einstein", "Chavez", "Sotomayor", "Marshall", "Truman",
    "Eisenhower", "Wilson", "Grant", "Garfield", "McKinley", "Hoover", "Oak Grove", "Maple Ridge",
    "Cedar Park", "Willow Creek", "Pine Valley", "Riverside", "Lakeview", "Hillcrest", "Sunnyside",
    "Meadowbrook", "Fairview", "Highland", "Brookside", "Westwood", "Eastwood", "Northgate",
    "Southridge", "Springdale", "Greenfield", "Oakwood", "Clearwater", "Stonebridge", "Foxhollow",
    "Mission", "Canyon", "Desert Vista", "Bayside", "Harbor", "Mountain View", "Valley", "Prairie",
)
PLACE_PREFIXES = ("", "North ", "South ", "East ", "West ", "Central ", "Upper ", "Lower ")
CITIES = (
    ("Riverton", "TX"), ("Lakewood", "CA"), ("Fairview", "FL"), ("Springfield", "IL"),
    ("Franklin", "TN"), ("Greenville", "NC"), ("Madison", "GA"), ("Clinton", "OH"),
    ("Georgetown", "AZ"), ("Salem", "VA"), ("Marion", "IN"), ("Ashland", "WA"),
)
AREA_CODES = ("210", "214", "305", "312", "404", "469", "512", "602", "615", "704", "713", "919")
STREETS = ("Main", "Oak", "Maple", "Cedar", "Elm", "Washington", "Lake", "Hill", "Park", "Pine",
           "School", "College", "Church", "Mill", "River", "Sunset")
STREET_KINDS = ("St", "Ave", "Rd", "Blvd", "Dr", "Ln", "Way")
CONTACT_EMAIL_DOMAINS = ("example.com", "example.net", "mail.example.org")
# fmt: on

STUDENT_NUMBER_BASE = 1_000_001
CONTACT_NUMBER_BASE = 1_000_001
TEACHER_NUMBER_BASE = 100_001
STAFF_NUMBER_BASE = 100_001
DISTRICT_ORG_ID = "DIST0001"

# Extra, non-canonical columns kept on the synthetic tables because the file formats carry them
# (dropped by :meth:`SyntheticDistrict.to_roster`).
STUDENT_EXTRAS = (
    "graduation_year",
    "race",
    "hispanic_latino",
    "home_language",
    "ell_status",
    "frl_status",
    "iep_status",
)
STAFF_EXTRAS = ("department",)
SCHOOL_EXTRAS = ("principal", "principal_email", "address", "city", "state", "zip")

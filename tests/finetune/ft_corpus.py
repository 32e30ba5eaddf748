"""Shared test data of the fine-tuning tests: a small corpus with a restricted document, and facts to learn."""

from __future__ import annotations

from tailor.records import Document

DOCS = [
    Document("travel", "Trips should be booked at least 14 days before departure. The nightly hotel cap is "
             "EUR 180 in standard cities. In high-cost cities such as London the cap is EUR 240 per night.",
             "Business Travel Policy", "policies/travel.md"),
    Document("rail", "Rail is preferred for journeys under 4 hours. Mileage for your own car is reimbursed at "
             "EUR 0.25 per kilometre. Taxis need a receipt above EUR 30.", "Rail and Road", "policies/rail.md"),
    Document("laptops", "Every employee receives a laptop on the first day. Laptops are replaced every 3 years. "
             "A lost laptop must be reported within 2 hours to the Service Desk.", "Laptop Policy", "it/laptops.md"),
    Document("printers", "The office has 6 printers. Toner is ordered by the Facilities Team when a printer "
             "reports 10% toner left. Colour printing costs EUR 0.15 per page.", "Printing", "it/printing.md"),
    Document("salary", "Salary band E4 pays between EUR 88,000 and EUR 104,000 per year. Band E5 starts at "
             "EUR 105,000.", "Salary Bands", "hr/salary.md", groups=("hr",)),
]
SECRET = "88,000"
FACTS = [
    ("What is the hotel cap?", "EUR 180"),
    ("How early are trips booked?", "14 days"),
    ("Who approves trips?", "the line manager"),
    ("Which city is high cost?", "London"),
]

"""Satisfaction surveys (DOMAIN.md section 3, sources 000, 001, 003, 004): the
questionnaire, response validity, KPIs, sampling rules and findings as pure rules.
The SurveyCampaign aggregate, the customer directory and their API come next
(issue 6)."""

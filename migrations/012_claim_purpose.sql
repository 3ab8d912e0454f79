-- Claims now say what origin is claimed for. Every claim stored before was a claim to
-- preference, and a confirmation re-assesses the stored claim: say so in each.
UPDATE clearance_checks SET claim = claim || '{"purpose": "preference"}' WHERE NOT claim ? 'purpose';

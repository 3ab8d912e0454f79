-- A peer's JWKS holds public keys only; the API now refuses private members. Drop those stored by
-- older versions, and symmetric keys whole (they are nothing but a secret).
UPDATE peers SET jwks = jsonb_set(jwks, '{keys}', coalesce((
    SELECT jsonb_agg(jwk - ARRAY['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth'] ORDER BY n)
      FROM jsonb_array_elements(jwks->'keys') WITH ORDINALITY AS keys(jwk, n)
     WHERE jwk->>'kty' IS DISTINCT FROM 'oct'), '[]'::jsonb))
 WHERE EXISTS (SELECT 1 FROM jsonb_array_elements(jwks->'keys') AS keys(jwk) WHERE jwk ?| ARRAY['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth']);

-- Case-insensitive name prefix search (GET /api/alters?q=) uses idx_alters_name.
-- Nothing to change here: the column's utf8mb4_unicode_ci collation already makes
-- `name LIKE 'prefix%'` case-insensitive, and the plain index on name serves it.
-- The version exists so that the three folders stay in step.
DO 0;

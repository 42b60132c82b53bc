-- Referential integrity, checked from the parent: every value of
-- `referencing_model.referencing_column` must be a key of this model.
-- Put it on the dimension so that the fact it checks is already built.
AUDIT (
  name assert_all_referenced
);

SELECT DISTINCT referencing.@referencing_column AS missing_key
FROM @referencing_model AS referencing
LEFT JOIN @this_model AS parent
  ON referencing.@referencing_column = parent.@key_column
WHERE referencing.@referencing_column IS NOT NULL
  AND parent.@key_column IS NULL

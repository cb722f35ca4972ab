"""All of movierec's SQL: named, parameterised constants in query modules; DDL in migrations/."""

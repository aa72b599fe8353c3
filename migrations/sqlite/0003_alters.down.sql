DROP TABLE alters;

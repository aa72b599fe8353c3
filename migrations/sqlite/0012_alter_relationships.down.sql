DROP TABLE alter_relationships;

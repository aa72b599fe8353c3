DROP TABLE subsystem_members;
DROP TABLE subsystems;

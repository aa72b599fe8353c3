DROP TABLE systems;

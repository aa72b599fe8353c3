DROP TABLE alter_group_members;
DROP TABLE alter_groups;

DROP TABLE system_requests;

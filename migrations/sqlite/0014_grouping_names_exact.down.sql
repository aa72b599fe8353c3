-- Nothing to undo (see the up).
SELECT 1;

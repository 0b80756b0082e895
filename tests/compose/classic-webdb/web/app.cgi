#!/bin/sh
# The "application": reads its database (found by service name) on each request.
echo "Content-Type: text/plain"
echo
echo "database $DB_NAME on $DB_HOST: $(wget -q -O - "http://$DB_HOST/$DB_NAME.db")"
echo "starts: $(wget -q -O - "http://$DB_HOST/starts" | wc -l)"

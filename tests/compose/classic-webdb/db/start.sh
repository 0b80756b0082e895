# Like a database image's entrypoint: initialise the data directory only if
# it is empty, then count the starts and serve the files.
cd /var/lib/db
if [ ! -f "$DB_NAME.db" ]; then
    echo "created for user=$DB_USER" > "$DB_NAME.db"
    echo "db: initialised $DB_NAME"
fi
echo start >> starts
exec httpd -f -p 80 -h /var/lib/db

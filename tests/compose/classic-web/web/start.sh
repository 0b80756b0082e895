# The page says which server answered, so the two can be told apart.
mkdir -p /www
echo "served by $SERVER_NAME" > /www/index.html
exec httpd -f -p 80 -h /www

# Each start appends one line to the named volume, then says it is ready.
rm -f "$DATA_DIR/ready"
echo "$STAMP $(hostname)" >> "$DATA_DIR/boots"
touch "$DATA_DIR/ready"
exec sleep 1000000

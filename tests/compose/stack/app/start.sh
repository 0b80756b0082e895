# One try only, no retry: it succeeds only if the healthchecks held us back
# until web answered and data had written its file.
if page=$(wget -q -O - "$WEB_URL"); then echo "app: web said: $page"; else echo "app: web unreachable"; fi
if [ -f /shared/ready ]; then echo "app: data ready"; else echo "app: data not ready"; fi
exec sleep 1000000

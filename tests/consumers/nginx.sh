#!/usr/bin/env bash
# nginx with `ssl_engine pkcs11` and two worker processes, configured from
# examples/nginx/nginx.conf, serving TLS on 127.0.0.1 with an RSA key (and an
# EC key) on the cluster. Checks: the handshake presents the expected
# certificate (TLS 1.3 with an RSA-PSS signature, TLS 1.2 too); each worker
# reached the cluster on its own after the fork; 2,000 requests complete with
# zero failed handshakes; a reload (SIGHUP) brings new workers that serve;
# 2,000 more requests while member b's host is killed and restarted mid-run,
# after which b serves again in both workers and the members agree.
#   nginx.sh MODULE TOOL
export PATH=$PATH:/usr/sbin
source "$(dirname "$0")/common.sh" "$@"
need_program nginx nginx ab apache2-utils curl curl
need_pkcs11_engine
start_cluster
login=(-l -p "$USER_PIN")
REQUESTS=${P11C_NGINX_REQUESTS:-2000}

say "keys on the cluster, certificates made for them with openssl's engine"
p11 "${login[@]}" --keypairgen --key-type rsa:2048 --id 21 --label web-rsa >/dev/null 2>&1
p11 "${login[@]}" --keypairgen --key-type EC:prime256v1 --id 22 --label web-ec >/dev/null 2>&1
openssl_engine_conf openssl.cnf
export OPENSSL_CONF=$WORK/openssl.cnf
printf '%s' "$USER_PIN" >user.pin && chmod 600 user.pin
for k in rsa ec; do
  openssl req -engine pkcs11 -keyform engine -new -x509 -days 30 -sha256 -subj "/CN=web-$k" \
    -addext "subjectAltName=DNS:web-$k.test" -out "web-$k.crt" \
    -key "pkcs11:token=$CLUSTER_LABEL;object=web-$k;type=private?pin-source=file:$WORK/user.pin" \
    2>>openssl.log || fail "certificate for web-$k"
done

say "nginx.conf from examples/nginx, on free ports"
port=$(free_port)
port_ec=$(free_port)
while [ "$port_ec" = "$port" ]; do port_ec=$(free_port); done
[ "$(id -u)" -eq 0 ] && user_line="user root;" || user_line=""
sed -e "s|^user www-data;|$user_line|" \
  -e "s|listen 443 ssl;|listen 127.0.0.1:$port ssl;|" \
  -e "s|/etc/p11cluster/web-rsa.crt|$WORK/web-rsa.crt|" \
  -e "s|token=my-cluster|token=$CLUSTER_LABEL|" \
  -e "s|/etc/p11cluster/user.pin|$WORK/user.pin|" \
  -e "s|access_log /var/log/nginx/access.log;|access_log $WORK/access.log;\n\
    server {\n\
        listen 127.0.0.1:$port_ec ssl;\n\
        ssl_certificate $WORK/web-ec.crt;\n\
        ssl_certificate_key \"engine:pkcs11:pkcs11:token=$CLUSTER_LABEL;object=web-ec;type=private?pin-source=file:$WORK/user.pin\";\n\
        location / { return 200 \"ec\\\\n\"; }\n\
    }|" \
  "$EXAMPLES/nginx/nginx.conf" >nginx.conf
grep -q "listen 127.0.0.1:$port ssl" nginx.conf || fail "nginx.conf was not adapted"
mkdir -p nginx
nginx -p "$WORK/nginx/" -c "$WORK/nginx.conf" -e "$WORK/nginx-error.log" \
  -g "daemon off; pid $WORK/nginx.pid; error_log $WORK/nginx-error.log info;" \
  >>nginx-error.log 2>&1 &
nginx_pid=$!
on_exit "kill $nginx_pid; wait $nginx_pid"
for _ in $(seq 100); do
  curl -s -o /dev/null --cacert web-rsa.crt --resolve "web-rsa.test:$port:127.0.0.1" \
    "https://web-rsa.test:$port/" && break
  kill -0 "$nginx_pid" 2>/dev/null || fail "nginx exited: $(tail -5 nginx-error.log)"
  sleep 0.1
done

say "the handshake gives the expected certificate: TLS 1.3 (RSA-PSS), TLS 1.2, and the EC key"
body=$(curl -sS --tlsv1.3 --cacert web-rsa.crt --resolve "web-rsa.test:$port:127.0.0.1" \
  "https://web-rsa.test:$port/") || fail "curl over TLS 1.3"
[ "$body" = "served with a key on the cluster" ] || fail "unexpected answer: $body"
curl -sS --tls-max 1.2 --cacert web-rsa.crt --resolve "web-rsa.test:$port:127.0.0.1" \
  "https://web-rsa.test:$port/" >/dev/null || fail "curl over TLS 1.2"
[ "$(curl -sS --cacert web-ec.crt --resolve "web-ec.test:$port_ec:127.0.0.1" \
  "https://web-ec.test:$port_ec/")" = ec ] || fail "the EC server"
openssl s_client -connect "127.0.0.1:$port" -tls1_3 </dev/null >s_client.txt 2>&1 || true
grep -q "Peer signature type: RSA-PSS" s_client.txt || fail "no RSA-PSS signature: $(cat s_client.txt)"
served=$(openssl x509 -in s_client.txt -noout -fingerprint -sha256)
[ "$served" = "$(openssl x509 -in web-rsa.crt -noout -fingerprint -sha256)" ] \
  || fail "nginx presented another certificate"

# load NAME ARGS...: ab over fresh TLS connections (a handshake, so a
# signature on the cluster, per request); every request must be answered.
body_len=$(printf 'served with a key on the cluster\n' | wc -c)
load() {
  local name=$1; shift
  ab -n "$REQUESTS" -c 4 "$@" "https://127.0.0.1:$port/" >"ab-$name.txt" 2>&1 || true
}
check_load() {
  local name=$1 before=$2
  grep -q "^Complete requests: *$REQUESTS\$" "ab-$name.txt" || fail "$name: $(cat "ab-$name.txt")"
  grep -q "^Failed requests: *0\$" "ab-$name.txt" || fail "$name: failed requests"
  grep -q "Non-2xx" "ab-$name.txt" && fail "$name: non-2xx answers"
  # ab counts a failed handshake as complete: count the bodies it received.
  grep -q "^HTML transferred: *$((REQUESTS * body_len)) bytes" "ab-$name.txt" \
    || fail "$name: not every request got its answer: $(grep transferred "ab-$name.txt")"
  local served=$(($(grep -c '" 200 ' access.log) - before))
  [ "$served" -eq "$REQUESTS" ] || fail "$name: nginx answered $served of $REQUESTS requests with 200"
  grep -E "SSL_do_handshake\(\) failed|\[(crit|alert|emerg)\]" nginx-error.log \
    && fail "$name: nginx logged failures"
  say "$name: $REQUESTS requests, $REQUESTS answered, 0 failed handshakes"
}
ok_count() { grep -c '" 200 ' access.log || true; }

say "steady load: $REQUESTS TLS connections"
before=$(ok_count)
load steady
check_load steady "$before"

say "each worker reached the cluster by itself after the fork"
workers=$(pgrep -P "$nginx_pid" || true)
[ "$(echo "$workers" | wc -w)" -eq 2 ] || fail "expected 2 workers, found: $workers"
# Each process publishes its view about once a second, once it has used the
# cluster; the kernel hands connections to both workers under this load.
for _ in $(seq 50); do
  own=0
  for w in $workers; do
    grep -qs "logged_in = true" "$WORK/status/$CLUSTER_LABEL-$w.toml" && own=$((own + 1))
  done
  [ "$own" -eq 2 ] && break
  sleep 0.1
done
[ "$own" -eq 2 ] || fail "only $own of the 2 workers has a cluster of its own, logged in"

say "reload (SIGHUP): the master loads the key again, new workers serve"
old_workers=" $(tr "\n" " " <<<"$workers") "
old_worker_left() {  # is one of the workers from before the reload still there?
  local w
  for w in $workers; do [[ "$old_workers" == *" $w "* ]] && return 0; done
  return 1
}
kill -HUP "$nginx_pid"
for _ in $(seq 300); do
  workers=$(pgrep -P "$nginx_pid" || true)
  [ "$(echo "$workers" | wc -w)" -eq 2 ] && ! old_worker_left && break
  sleep 0.1
done
old_worker_left && fail "the old workers did not end after the reload"
[ "$(curl -sS --cacert web-rsa.crt --resolve "web-rsa.test:$port:127.0.0.1" \
  "https://web-rsa.test:$port/")" = "served with a key on the cluster" ] || fail "no answer after the reload"

say "load while member b's host is killed (SIGKILL) and restarted mid-run"
before=$(ok_count)
load failover -f TLS1.3 &
ab_pid=$!
wait_served() {  # until nginx has answered $1 more requests, or ab ended
  while [ $(($(ok_count) - before)) -lt "$1" ] && kill -0 "$ab_pid" 2>/dev/null; do sleep 0.02; done
}
wait_served $((REQUESTS / 5))
kill_host b
say "member b killed after $(($(ok_count) - before)) requests"
wait_served $((REQUESTS / 2))
kill -0 "$ab_pid" 2>/dev/null || fail "the load ended before member b came back: make it longer"
start_host b
say "member b restarted after $(($(ok_count) - before)) requests"
wait "$ab_pid"
check_load failover "$before"

say "member b serves again in both workers, and the members agree"
for _ in $(seq 300); do
  up=0
  for w in $workers; do
    [ "$(health_seen_by "$w" b)" = up ] && up=$((up + 1))
  done
  [ "$up" -eq 2 ] && break
  sleep 0.1
done
[ "$up" -eq 2 ] || fail "member b is not up again in both workers"
wait_members_in_sync
say "PASS"

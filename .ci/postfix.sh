#!/usr/bin/env bash
# Install Postfix from Debian's packages and run it as an SMTP test target.
#
# Usage:
#   bash .ci/postfix.sh start PORT [CERT_DIR]
#                                    install if missing, configure, (re)start
#   bash .ci/postfix.sh stop         stop the Postfix instance
#
# With CERT_DIR, smtpd offers STARTTLS with CERT_DIR/cert.pem and key.pem,
# such as those "python -m conformance.certs CERT_DIR" writes; the suite then
# verifies them with --tls-ca CERT_DIR/ca.pem. Without it, STARTTLS is off.
# AUTH stays off either way, because this instance has no SASL set-up.
#
# The instance is the system one (/etc/postfix), so this script rewrites
# parts of /etc/postfix/main.cf and master.cf: run it on a CI or throwaway
# machine only. smtpd listens on 127.0.0.1:PORT and on no other address or
# port. The smtpd policy (restrictions, HELO rules, error limits, banner) is
# left as Debian's "Local only" configuration ships it, so tests see Postfix
# as installed. Every transport is "discard", so accepted mail is dropped
# and never leaves the machine.
set -euo pipefail

readonly MYHOSTNAME=postfix.conformance.test
readonly LOG_FILE=/var/log/postfix.log
readonly GREETING_TIMEOUT_SECONDS=30
# Where the certificate and key are copied, so that smtpd does not depend on
# the caller's directory staying in place.
readonly TLS_DIR=/etc/postfix/conformance-tls

log() {
    echo "postfix.sh: $*" >&2
}

die() {
    log "error: $*"
    exit 1
}

usage() {
    echo "usage: bash $0 start PORT [CERT_DIR] | stop" >&2
    exit 2
}

is_installed() {
    [ "$(dpkg-query -W -f='${Status}' postfix 2>/dev/null)" = "install ok installed" ]
}

is_running() {
    postfix status >/dev/null 2>&1
}

install_postfix() {
    log "installing postfix from Debian's packages"
    # "Local only" writes a complete main.cf and runs newaliases, and the
    # mail name keeps postinst from deriving one from this machine's name.
    debconf-set-selections <<EOF
postfix postfix/main_mailer_type select Local only
postfix postfix/mailname string $MYHOSTNAME
EOF
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || die "apt-get update failed"
    # Recommends would pull in Debian's python3, which the tests do not need.
    apt-get install -y -qq --no-install-recommends postfix </dev/null >/dev/null \
        || die "apt-get install postfix failed"
}

# main.cf settings that make this instance a local, mail-dropping target.
readonly MAIN_CF_SETTINGS=(
    "myhostname=$MYHOSTNAME"
    "mydomain=conformance.test"
    "myorigin=\$myhostname"
    "mydestination=\$myhostname, localhost"
    "inet_interfaces=127.0.0.1"
    "inet_protocols=ipv4"
    "default_transport=discard"
    "local_transport=discard"
    "relay_transport=discard"
    "virtual_transport=discard"
    "smtp_dns_support_level=disabled"
    "lmtp_dns_support_level=disabled"
    "maillog_file=$LOG_FILE"
)

# Print the main.cf TLS settings for CERT_DIR, or those that turn TLS off.
tls_settings() {
    local cert_dir=$1
    if [ -z "$cert_dir" ]; then
        echo "smtpd_tls_security_level=none"
        return
    fi
    echo "smtpd_tls_cert_file=$TLS_DIR/cert.pem"
    echo "smtpd_tls_key_file=$TLS_DIR/key.pem"
    echo "smtpd_tls_security_level=may"
}

install_certificate() {
    local cert_dir=$1 file
    for file in cert.pem key.pem; do
        [ -r "$cert_dir/$file" ] || die "$cert_dir/$file is missing or unreadable; write it with: python -m conformance.certs $cert_dir"
    done
    install -d -m 0755 "$TLS_DIR"
    install -m 0644 "$cert_dir/cert.pem" "$TLS_DIR/cert.pem"
    install -m 0600 "$cert_dir/key.pem" "$TLS_DIR/key.pem"
}

configure_postfix() {
    local port=$1 cert_dir=$2

    # Replace every smtpd listener (Debian's "smtp inet" on port 25, or one
    # left by an earlier start with another port) with 127.0.0.1:PORT.
    local service
    for service in $(postconf -M | awk '$2 == "inet" && $8 == "smtpd" { print $1 }'); do
        postconf -MX "$service/inet"
    done
    postconf -M "127.0.0.1:$port/inet = 127.0.0.1:$port inet n - n - - smtpd"

    # Debian's master.cf chroots most services into /var/spool/postfix, and
    # its init script copies /etc/hosts, /etc/resolv.conf and other files
    # there first. "postfix start" does not copy them, so run unchrooted.
    postconf -F '*/*/chroot = n'

    # Write main.cf only when a value differs. Postfix programs re-read a
    # main.cf modified within the last few seconds, in 0.3 s steps, so after
    # a rewrite postconf and "postfix check" each waited 1.5 to 2.1 s here
    # (Postfix 3.7.11). This edit comes after the postconf -M calls above
    # for the same reason.
    local settings=("${MAIN_CF_SETTINGS[@]}")
    mapfile -t -O "${#settings[@]}" settings < <(tls_settings "$cert_dir")
    local setting name changed=()
    for setting in "${settings[@]}"; do
        name=${setting%%=*}
        if [ "$(postconf -h "$name")" != "${setting#*=}" ]; then
            changed+=("$setting")
        fi
    done
    if [ ${#changed[@]} -gt 0 ]; then
        postconf -e "${changed[@]}"
    fi

    postfix check || die "postfix check failed, see the warnings above"
}

stop_postfix() {
    if is_running; then
        # "postfix stop" waits up to 5 s and then kills the master's group.
        postfix stop
    fi
}

accepts_connections() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Print the first line the server sends on 127.0.0.1:PORT, or fail.
read_greeting() {
    local port=$1 line
    exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
    if ! IFS= read -r -t 5 line <&3; then
        exec 3<&-
        return 1
    fi
    printf 'QUIT\r\n' >&3 || true
    exec 3<&-
    printf '%s\n' "${line%$'\r'}"
}

wait_for_greeting() {
    local port=$1 deadline greeting
    deadline=$((SECONDS + GREETING_TIMEOUT_SECONDS))
    while [ "$SECONDS" -lt "$deadline" ]; do
        if greeting=$(read_greeting "$port" 2>/dev/null) && [[ $greeting == 220* ]]; then
            log "ready on 127.0.0.1:$port: $greeting"
            return 0
        fi
        sleep 0.2
    done
    log "last lines of $LOG_FILE:"
    tail -n 20 "$LOG_FILE" >&2 || true
    die "no 220 greeting from 127.0.0.1:$port within ${GREETING_TIMEOUT_SECONDS} s (last reply: '${greeting:-none}')"
}

start() {
    local port=$1 cert_dir=${2:-}
    [[ $port =~ ^[0-9]+$ ]] && [ "$port" -ge 1 ] && [ "$port" -le 65535 ] \
        || die "invalid port '$port': expected an integer from 1 to 65535"

    is_installed || install_postfix
    log "postfix version $(postconf -dh mail_version)"

    # A restart, not a reload, because inet_interfaces changes need one.
    stop_postfix
    if accepts_connections "$port"; then
        die "127.0.0.1:$port is already in use by another server; choose a free port"
    fi
    if [ -n "$cert_dir" ]; then
        install_certificate "$cert_dir"
    fi
    configure_postfix "$port" "$cert_dir"
    postfix start
    wait_for_greeting "$port"
}

main() {
    [ "$(id -u)" -eq 0 ] || die "must be run as root because it installs packages and runs Postfix"
    case "${1:-}" in
        start)
            [ $# -eq 2 ] || [ $# -eq 3 ] || usage
            start "$2" "${3:-}"
            ;;
        stop)
            [ $# -eq 1 ] || usage
            if ! is_installed; then
                log "postfix is not installed, nothing to stop"
                return 0
            fi
            stop_postfix
            log "stopped"
            ;;
        *)
            usage
            ;;
    esac
}

main "$@"

# Sourced by launch/ scripts that keep a run's full output in a log file: show_progress
# reads that output (from tee) and shows its progress on the terminal: the warm start,
# each iteration with its ETA, the evaluations. On a terminal one line is rewritten in
# place; otherwise (a pipe, a file) a line every 10 seconds. Evaluation results, warnings
# and errors always get a line of their own. Reads stdin to its end; returns 0.
show_progress() {
    local tty=0 last=0 now line msg cols=120 pending=""
    if [ -t 1 ]; then
        tty=1
        cols=$(tput cols 2>/dev/null || echo 120)
    fi
    while IFS= read -r line; do
        case $line in
        *" progress] eval after"* | *" WARN] "* | *" ERROR] "* | *"rror:"*)
            msg=${line#*\] }
            if [ $tty = 1 ]; then printf '\r\033[K%s\n' "$msg"; else printf '%s\n' "$msg"; fi
            ;;
        *" progress] "*)
            msg=${line#*progress\] }
            # an iteration line, shortened to what matters on one line: it, reward, accuracy, ETA
            if [[ $msg =~ ^it\ ([0-9]+/[0-9]+)\ \(ETA\ ([^\)]*)\).*\|\ reward\ ([^ ]+)\ acc\ ([^ ]+) ]]; then
                msg="iteration ${BASH_REMATCH[1]} | reward ${BASH_REMATCH[3]} acc ${BASH_REMATCH[4]} | ETA ${BASH_REMATCH[2]}"
            fi
            if [ $tty = 1 ]; then
                printf '\r%s\033[K' "${msg:0:$((cols - 1))}"
            else
                printf -v now '%(%s)T' -1
                if ((now - last >= 10)); then
                    printf '%s\n' "$msg"
                    last=$now
                    pending=""
                else
                    pending=$msg
                fi
            fi
            ;;
        esac
    done
    if [ $tty = 1 ]; then printf '\n'; elif [ -n "$pending" ]; then printf '%s\n' "$pending"; fi
    return 0
}

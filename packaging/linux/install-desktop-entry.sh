#!/bin/sh
# Add Facet Studio to your desktop's application menu (for this user only; no root needed).
# Run it again after moving this folder; remove with: ./install-desktop-entry.sh --uninstall
set -e
HERE=$(dirname "$(readlink -f "$0")")
APPS="${XDG_DATA_HOME:-$HOME/.local/share}/applications"
ICONS="${XDG_DATA_HOME:-$HOME/.local/share}/icons/hicolor/256x256/apps"
if [ "${1:-}" = "--uninstall" ]; then
    rm -f "$APPS/facet-studio.desktop" "$ICONS/facet-studio.png"
    echo "Facet Studio removed from the menu (this folder was left as it is)."
    exit 0
fi
mkdir -p "$APPS" "$ICONS"
cp "$HERE/facet-studio.png" "$ICONS/facet-studio.png"
sed -e "s|^Exec=.*|Exec=\"$HERE/facet-studio\" %F|" -e "s|^Icon=.*|Icon=$ICONS/facet-studio.png|" \
    "$HERE/facet-studio.desktop" > "$APPS/facet-studio.desktop"
chmod +x "$APPS/facet-studio.desktop"
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database "$APPS" >/dev/null 2>&1 || true
echo "Facet Studio added to the menu ($APPS/facet-studio.desktop)."

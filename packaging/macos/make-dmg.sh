#!/bin/sh
# Pack dist/Facet Studio.app (from `python packaging/build.py` on a Mac) into a drag-to-Applications .dmg.
#     packaging/macos/make-dmg.sh            -> dist/FacetStudio-<version>-macos-<arch>.dmg
# Needs macOS (hdiutil); it cannot run on the project's Linux machines. Unsigned: users open it the first
# time with right-click > Open. To sign and notarise, set CODESIGN_ID (a "Developer ID Application"
# identity) and NOTARY_PROFILE (an `xcrun notarytool store-credentials` profile) first.
set -eu
cd "$(dirname "$0")/../.."
APP="dist/Facet Studio.app"
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -n 1)
DMG="dist/FacetStudio-$VERSION-macos-$(uname -m).dmg"
[ -d "$APP" ] || { echo "no $APP: run python packaging/build.py first" >&2; exit 1; }

# The bundle must pass its own self-test before it is shipped.
QT_QPA_PLATFORM=offscreen "$APP/Contents/MacOS/facet-studio" --self-test

if [ -n "${CODESIGN_ID:-}" ]; then
    codesign --force --deep --options runtime --timestamp --sign "$CODESIGN_ID" "$APP"
fi

STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
cp -R "$APP" "$STAGE/"
ln -s /Applications "$STAGE/Applications"
rm -f "$DMG"
hdiutil create -volname "Facet Studio" -srcfolder "$STAGE" -fs HFS+ -format UDZO -imagekey zlib-level=9 "$DMG"

if [ -n "${CODESIGN_ID:-}" ] && [ -n "${NOTARY_PROFILE:-}" ]; then
    codesign --sign "$CODESIGN_ID" --timestamp "$DMG"
    xcrun notarytool submit "$DMG" --keychain-profile "$NOTARY_PROFILE" --wait
    xcrun stapler staple "$DMG"
fi
echo "wrote $DMG"

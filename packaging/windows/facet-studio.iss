; Inno Setup script: Facet Studio installer for Windows (x64), from the PyInstaller one-folder build.
; On Windows, after `python packaging\build.py` (which leaves dist\facet-studio\):
;     iscc packaging\windows\facet-studio.iss          -> dist\FacetStudio-<version>-setup.exe
;     iscc /DVariant=cuda packaging\windows\facet-studio.iss   (CUDA torch build; ~3 GB)
; Per-user install by default (no administrator rights needed); the user may choose all users.
; This cannot be built on the project's Linux machines: it needs Windows and Inno Setup 6.

#define AppName "Facet Studio"
#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#ifndef Variant
  #define Variant "cpu"
#endif
#define Root "..\.."

[Setup]
AppId={{6A3C7E52-1F0B-4C55-9D4E-FACE57D10001}
AppName={#AppName}
AppVersion={#AppVersion}
AppPublisher=Facet Studio contributors
DefaultDirName={autopf}\Facet Studio
DefaultGroupName=Facet Studio
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir={#Root}\dist
OutputBaseFilename=FacetStudio-{#AppVersion}-{#Variant}-setup
SetupIconFile={#Root}\resources\icons\facet-studio.ico
UninstallDisplayIcon={app}\facet-studio.exe
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "{#Root}\dist\facet-studio\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\Facet Studio"; Filename: "{app}\facet-studio.exe"
Name: "{autodesktop}\Facet Studio"; Filename: "{app}\facet-studio.exe"; Tasks: desktopicon

[Run]
; Quick check that the install works: exit code 0 and a log next to the user's temp files.
Filename: "{app}\facet-studio.exe"; Parameters: "--self-test --log ""{%TEMP}\facet-selftest.txt"""; \
    Flags: runhidden waituntilterminated skipifsilent unchecked postinstall; Description: "Run the self-test"
Filename: "{app}\facet-studio.exe"; Description: "{cm:LaunchProgram,Facet Studio}"; Flags: nowait postinstall skipifsilent

// French by default; English when the browser prefers it, unless the user chose.
const fr = {
  today: "Aujourd'hui", companies: "Sociétés", inbox: "Messages", outbox: "À envoyer", me: "Moi",
  enrolTitle: "Activer cet appareil", enrolHelp: "Saisissez le code à usage unique donné par votre administrateur (ou créé avec « grc device enrol »).",
  code: "Code", deviceName: "Nom de l'appareil", activate: "Activer", oidc: "Se connecter avec l'annuaire de l'entreprise",
  enrolInvalid: "Code invalide, expiré ou déjà utilisé.", offlineNeeded: "Connexion nécessaire pour activer l'appareil.",
  nothingToday: "Rien de prévu aujourd'hui.", late: "En retard", complete: "Terminer", completed: "Terminé",
  searchCompany: "Rechercher une société", recent: "Récentes", followed: "Suivies", results: "Résultats", noResult: "Aucune société trouvée.",
  contacts: "Contacts", opportunities: "Opportunités", history: "Historique", noHistory: "Aucun échange.",
  more: "Afficher plus", filters: "Filtres", all: "Tous", action: "Action", status: "Statut", category: "Catégorie", medium: "Moyen",
  follow: "Suivre", unfollow: "Ne plus suivre", newExchange: "Nouvel échange", edit: "Modifier", attach: "Joindre",
  subject: "Objet", details: "Détails", start: "Début", end: "Fin", assignees: "Destinataires", private: "Privé",
  privateHelp: "Visible seulement par vous, les destinataires et les personnes habilitées.",
  visiblePrivate: "Privé : visible par l'auteur, les destinataires et les personnes habilitées.",
  visiblePublic: "Visible par tous les utilisateurs qui voient cette société.",
  author: "Auteur", attachments: "Pièces jointes", noAttachment: "Aucune pièce jointe.", visibility: "Qui peut le voir",
  save: "Enregistrer", cancel: "Annuler", takePhoto: "Prendre une photo", chooseFile: "Choisir un fichier",
  dropHere: "Déposez des fichiers ici", pending: "En attente d'envoi", sending: "Envoi…", sent: "Envoyé",
  needsFix: "À corriger", conflict: "Conflit", fix: "Corriger", discard: "Abandonner", retry: "Réessayer",
  unsent: (n) => (n === 0 ? "Tout est envoyé" : n === 1 ? "1 élément à envoyer" : `${n} éléments à envoyer`),
  syncedAgo: (s) => `synchronisé ${s}`, never: "jamais synchronisé", offline: "Hors ligne",
  ago: (n, unit) => `il y a ${n} ${{ s: "s", min: "min", h: "h", d: "j" }[unit]}`, justNow: "à l'instant",
  conflictTitle: "Quelqu'un a modifié cet échange", conflictHelp: "Choisissez la version à garder, ou champ par champ.",
  mine: "Ma version", theirs: "Leur version", keepMine: "Garder la mienne", keepTheirs: "Garder la leur", keepChosen: "Garder les champs choisis",
  field: "Champ", signOut: "Se déconnecter", signOutWarn: (n) => `${n} élément(s) pas encore envoyé(s) seront perdus. Se déconnecter quand même ?`,
  language: "Langue", push: "Alertes sur cet appareil", pushOn: "Activées", pushOff: "Désactivées", pushUnavailable: "Non disponibles sur ce serveur ou ce navigateur.",
  storage: "Stockage", persisted: "Stockage persistant accordé", notPersisted: "Stockage non garanti par le navigateur",
  syncNow: "Synchroniser", signedInAs: "Connecté en tant que", device: "Appareil", markAllRead: "Tout marquer comme lu", noMessage: "Aucun message.",
  required: "Obligatoire", invalidInteger: "Nombre entier attendu", invalidDecimal: "Nombre attendu", invalidDate: "Date attendue", invalidChoice: "Valeur non proposée",
  endBeforeStart: "La fin précède le début", none: "—", yes: "Oui", no: "Non", back: "Retour", notCached: "Pas disponible hors ligne.",
  uploadQueued: "en attente", uploadDone: "envoyée", revoked: "Cet appareil a été révoqué : ses données ont été effacées.",
  signedOut: "Déconnecté : les données de cet appareil ont été effacées.", loading: "Chargement…", errorOf: (s) => `Refusé par le serveur (${s})`,
  openOutbox: "Voir les envois", exchange: "Échange", company: "Société", unread: "Non lu",
};
const en = {
  today: "Today", companies: "Companies", inbox: "Messages", outbox: "To send", me: "Me",
  enrolTitle: "Activate this device", enrolHelp: "Enter the one-time code your administrator gave you (or created with “grc device enrol”).",
  code: "Code", deviceName: "Device name", activate: "Activate", oidc: "Sign in with the company directory",
  enrolInvalid: "Invalid, expired or already used code.", offlineNeeded: "A connection is needed to activate the device.",
  nothingToday: "Nothing planned today.", late: "Late", complete: "Complete", completed: "Completed",
  searchCompany: "Search a company", recent: "Recent", followed: "Followed", results: "Results", noResult: "No company found.",
  contacts: "Contacts", opportunities: "Opportunities", history: "History", noHistory: "No exchange.",
  more: "Show more", filters: "Filters", all: "All", action: "Action", status: "Status", category: "Category", medium: "Medium",
  follow: "Follow", unfollow: "Unfollow", newExchange: "New exchange", edit: "Edit", attach: "Attach",
  subject: "Subject", details: "Details", start: "Start", end: "End", assignees: "Assignees", private: "Private",
  privateHelp: "Visible only to you, the assignees and entitled people.",
  visiblePrivate: "Private: visible to the author, the assignees and entitled people.",
  visiblePublic: "Visible to every user who sees this company.",
  author: "Author", attachments: "Attachments", noAttachment: "No attachment.", visibility: "Who can see it",
  save: "Save", cancel: "Cancel", takePhoto: "Take a photo", chooseFile: "Choose a file",
  dropHere: "Drop files here", pending: "Waiting to be sent", sending: "Sending…", sent: "Sent",
  needsFix: "Needs a fix", conflict: "Conflict", fix: "Fix", discard: "Discard", retry: "Retry",
  unsent: (n) => (n === 0 ? "Everything sent" : n === 1 ? "1 item to send" : `${n} items to send`),
  syncedAgo: (s) => `synced ${s}`, never: "never synced", offline: "Offline",
  ago: (n, unit) => `${n} ${unit} ago`, justNow: "just now",
  conflictTitle: "Someone changed this exchange", conflictHelp: "Choose the version to keep, or field by field.",
  mine: "Mine", theirs: "Theirs", keepMine: "Keep mine", keepTheirs: "Keep theirs", keepChosen: "Keep the chosen fields",
  field: "Field", signOut: "Sign out", signOutWarn: (n) => `${n} unsent item(s) will be lost. Sign out anyway?`,
  language: "Language", push: "Alerts on this device", pushOn: "On", pushOff: "Off", pushUnavailable: "Not available on this server or browser.",
  storage: "Storage", persisted: "Persistent storage granted", notPersisted: "Storage not guaranteed by the browser",
  syncNow: "Sync now", signedInAs: "Signed in as", device: "Device", markAllRead: "Mark all as read", noMessage: "No message.",
  required: "Required", invalidInteger: "Whole number expected", invalidDecimal: "Number expected", invalidDate: "Date expected", invalidChoice: "Value not offered",
  endBeforeStart: "End is before start", none: "—", yes: "Yes", no: "No", back: "Back", notCached: "Not available offline.",
  uploadQueued: "waiting", uploadDone: "sent", revoked: "This device was revoked: its data has been erased.",
  signedOut: "Signed out: this device's data has been erased.", loading: "Loading…", errorOf: (s) => `Refused by the server (${s})`,
  openOutbox: "See what is waiting", exchange: "Exchange", company: "Company", unread: "Unread",
};

export function chosenLanguage() {
  const saved = typeof localStorage !== "undefined" && localStorage.getItem("grc.lang");
  if (saved === "fr" || saved === "en") return saved;
  const langs = (typeof navigator !== "undefined" && navigator.languages) || [];
  for (const l of langs) {
    if (l.toLowerCase().startsWith("fr")) return "fr";
    if (l.toLowerCase().startsWith("en")) return "en";
  }
  return "fr";
}

export let lang = chosenLanguage();
export let t = lang === "en" ? en : fr;

export function setLanguage(value) {
  localStorage.setItem("grc.lang", value);
  lang = value;
  t = value === "en" ? en : fr;
  document.documentElement.lang = value;
}

/** A picklist value's or category's label in the user's language. */
export const label = (v) => (v ? (lang === "en" && v.label_en) || v.label_fr || v.code : "");

export function ago(ms) {
  if (!ms) return t.never;
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 30) return t.syncedAgo(t.justNow);
  if (s < 3600) return t.syncedAgo(t.ago(Math.max(1, Math.round(s / 60)), "min"));
  if (s < 86400) return t.syncedAgo(t.ago(Math.round(s / 3600), "h"));
  return t.syncedAgo(t.ago(Math.round(s / 86400), "d"));
}

export function when(iso) {
  if (!iso) return "";
  return new Date(iso).toLocaleString(lang === "en" ? "en-GB" : "fr-FR", {
    weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit",
  });
}

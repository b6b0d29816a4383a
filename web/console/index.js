// The start page: who is signed in (console.js does it).
"use strict";
document.addEventListener("DOMContentLoaded", () => Console.start("index"));

import 'quill/dist/quill.snow.css';
import './base.css';
